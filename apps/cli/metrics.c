/*
 * metrics.c - the opt-in Prometheus endpoint: `http = 127.0.0.1:PORT` in
 * [supervisor] serves GET /metrics in the text exposition format with
 * nng's HTTP server. Only loopback addresses are accepted.
 */
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "internal.h"

void ctl_handle(struct daemon *d, const Troupe__SupRequest *req,
                Troupe__SupReply *rep);
void ctl_reply_free(Troupe__SupReply *rep);

struct http {
	nng_http_server *srv;
};

static struct daemon *the_daemon;

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < *cap - *len) {
			*len += (size_t)n;
			return;
		}
		char *b = realloc(*buf, *cap * 2);
		if (b == NULL)
			return;
		*buf = b;
		*cap *= 2;
	}
}

char *metrics_text(struct daemon *d)
{
	Troupe__SupRequest req = TROUPE__SUP_REQUEST__INIT;
	Troupe__SupReply rep = TROUPE__SUP_REPLY__INIT;
	size_t len = 0, cap = 4096;
	char *b = malloc(cap);
	if (b == NULL)
		return NULL;
	b[0] = '\0';
	req.command = "status";
	ctl_handle(d, &req, &rep);
	append(&b, &len, &cap,
	       "# HELP troupe_child_up 1 when the child is running.\n"
	       "# TYPE troupe_child_up gauge\n");
	for (size_t i = 0; i < rep.n_children; i++)
		append(&b, &len, &cap, "troupe_child_up{name=\"%s\"} %d\n",
		       rep.children[i]->name,
		       strcmp(rep.children[i]->state, "running") == 0);
	append(&b, &len, &cap,
	       "# HELP troupe_child_restarts_total Restarts by the "
	       "supervisor.\n# TYPE troupe_child_restarts_total counter\n");
	for (size_t i = 0; i < rep.n_children; i++)
		append(&b, &len, &cap,
		       "troupe_child_restarts_total{name=\"%s\"} %u\n",
		       rep.children[i]->name, rep.children[i]->restarts);
	append(&b, &len, &cap,
	       "# HELP troupe_child_rss_bytes Resident memory.\n"
	       "# TYPE troupe_child_rss_bytes gauge\n");
	for (size_t i = 0; i < rep.n_children; i++)
		append(&b, &len, &cap,
		       "troupe_child_rss_bytes{name=\"%s\"} %llu\n",
		       rep.children[i]->name,
		       (unsigned long long)rep.children[i]->rss_kb * 1024);
	append(&b, &len, &cap,
	       "# HELP troupe_child_cpu_seconds_total CPU time.\n"
	       "# TYPE troupe_child_cpu_seconds_total counter\n");
	for (size_t i = 0; i < rep.n_children; i++)
		append(&b, &len, &cap,
		       "troupe_child_cpu_seconds_total{name=\"%s\"} %.3f\n",
		       rep.children[i]->name,
		       (double)rep.children[i]->cpu_ms / 1000.0);
	ctl_reply_free(&rep);
	return b;
}

static void serve_metrics(nng_aio *aio)
{
	nng_http_res *res;
	char *text = metrics_text(the_daemon);
	if (text == NULL || nng_http_res_alloc(&res) != 0) {
		free(text);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_header(res, "Content-Type",
	                        "text/plain; version=0.0.4");
	nng_http_res_copy_data(res, text, strlen(text));
	free(text);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

int metrics_start(struct daemon *d, const char *hostport)
{
	struct http *h = calloc(1, sizeof(*h));
	nng_http_handler *hd;
	nng_url *url;
	char u[200];
	int rv;
	if (h == NULL)
		return TP_ENOMEM;
	if (strncmp(hostport, "127.", 4) != 0 &&
	    strncmp(hostport, "localhost:", 10) != 0 &&
	    strncmp(hostport, "[::1]:", 6) != 0) {
		free(h);
		return TP_EPERM; /* loopback only */
	}
	snprintf(u, sizeof(u), "http://%s", hostport);
	the_daemon = d;
	tp__nng_used();
	if ((rv = nng_url_parse(&url, u)) != 0) {
		free(h);
		return tp_err_nng(rv);
	}
	rv = nng_http_server_hold(&h->srv, url);
	nng_url_free(url);
	if (rv == 0 &&
	    (rv = nng_http_handler_alloc(&hd, "/metrics", serve_metrics)) ==
	        0 &&
	    (rv = nng_http_handler_set_method(hd, "GET")) == 0 &&
	    (rv = nng_http_server_add_handler(h->srv, hd)) == 0)
		rv = nng_http_server_start(h->srv);
	if (rv != 0) {
		if (h->srv != NULL)
			nng_http_server_release(h->srv);
		free(h);
		return tp_err_nng(rv);
	}
	d->http = h;
	return TP_OK;
}

void metrics_stop(struct daemon *d)
{
	struct http *h = d->http;
	if (h == NULL)
		return;
	nng_http_server_stop(h->srv);
	nng_http_server_release(h->srv);
	free(h);
	d->http = NULL;
}
