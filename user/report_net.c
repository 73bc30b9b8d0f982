// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The network-volume parts of the reports: the "net" JSON object, the top
 * talkers (per TCP peer) in the "tcp" object and in the text report's TCP
 * section (docs/net.md).
 */
#include "concern.h"
#include "json.h"
#include "netmodel.h"
#include "report.h"

#define JSON_TALKERS 20
#define TEXT_TALKERS 5

void report_json_net(struct json_w *w, struct model *m)
{
	const struct net_model *n = m->net;

	json_key(w, "net");
	json_obj_begin(w);
	json_kstr(w, "source", net_source_name(n ? n->source : NET_SRC_NONE));
	json_kuint(w, "rx_bytes", n ? n->total_rx : 0);
	json_kuint(w, "tx_bytes", n ? n->total_tx : 0);
	json_kuint(w, "attributed_rx_bytes", n ? n->attributed_rx : 0);
	json_kuint(w, "attributed_tx_bytes", n ? n->attributed_tx : 0);
	json_kuint(w, "unknown_process_rx_bytes", n ? n->unknown_rx : 0);
	json_kuint(w, "unknown_process_tx_bytes", n ? n->unknown_tx : 0);
	json_kuint(w, "sockets_not_tracked", n ? n->mapfull : 0);
	report_json_net_talkers(w, m);
	json_obj_end(w);
}

void report_json_net_talkers(struct json_w *w, struct model *m)
{
	const struct net_model *n = m->net;
	size_t i;

	json_key(w, "top_talkers");
	json_arr_begin(w);
	for (i = 0; n && n->ranked && i < n->npeers && i < JSON_TALKERS; i++) {
		const struct net_peer *p = n->ranked[i];

		json_obj_begin(w);
		json_kstr(w, "raddr", p->addr);
		if (p->inbound) {
			json_knull(w, "rport");
			json_kuint(w, "lport", p->port);
		} else {
			json_kuint(w, "rport", p->port);
			json_knull(w, "lport");
		}
		json_kstr(w, "direction", p->inbound ? "inbound" : "outbound");
		json_kuint(w, "rx_bytes", p->rx);
		json_kuint(w, "tx_bytes", p->tx);
		json_obj_end(w);
	}
	json_arr_end(w);
}

void report_text_net_talkers(struct model *m, FILE *out)
{
	const struct net_model *n = m->net;
	char a[16], b[16], peer[80];
	size_t i;

	if (!n || !n->ranked || !n->npeers)
		return;
	fprintf(out, " top talkers (bytes, %s):\n", net_source_name(n->source));
	fprintf(out, "  %-52s %-8s %6s %6s\n", "PEER", "DIR", "RX", "TX");
	for (i = 0; i < n->npeers && i < TEXT_TALKERS; i++) {
		const struct net_peer *p = n->ranked[i];

		if (p->inbound)
			snprintf(peer, sizeof(peer), "%s -> our port %u", p->addr, p->port);
		else if (p->family == 10)
			snprintf(peer, sizeof(peer), "[%s]:%u", p->addr, p->port);
		else
			snprintf(peer, sizeof(peer), "%s:%u", p->addr, p->port);
		fprintf(out, "  %-52.52s %-8s %6s %6s\n", peer, p->inbound ? "inbound" : "outbound",
			report_bytes(p->rx, a, sizeof(a)), report_bytes(p->tx, b, sizeof(b)));
	}
}
