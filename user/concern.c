// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <string.h>

#include "concern.h"
#include "util.h"

const struct concern *const concerns[] = {
	&concern_proc, &concern_mem, &concern_tls, &concern_tcp, &concern_cpu, &concern_net,
};
const size_t nconcerns = ARRAY_SIZE(concerns);

const struct concern *concern_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < nconcerns; i++)
		if (!strcmp(concerns[i]->name, name))
			return concerns[i];
	return NULL;
}

const struct concern *concern_by_type(uint16_t type)
{
	size_t i;

	for (i = 0; i < nconcerns; i++)
		if (type >= concerns[i]->type_min && type <= concerns[i]->type_max)
			return concerns[i];
	return NULL;
}

unsigned int concern_parse_list(const char *list, char *bad, size_t badlen)
{
	unsigned int mask = 0;
	const char *s = list;

	while (s && *s) {
		size_t n = strcspn(s, ",");
		char item[32];
		const struct concern *c;

		st_strfix(item, sizeof(item), s, n);
		c = concern_by_name(item);
		if (!c) {
			st_strlcpy(bad, item, badlen);
			return 0;
		}
		mask |= c->bit;
		s += n;
		if (*s == ',')
			s++;
	}
	if (!mask)
		st_strlcpy(bad, "", badlen);
	return mask;
}
