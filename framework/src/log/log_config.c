/*
 * log_config.c - the logging configuration: the C counterpart of balsa's
 * Balsa object, config_as_dict() (tp_log_config_encode: a LogConfig
 * protobuf message) and balsa_clone() (tp_log_config_clone: the child's
 * copy under its own name, without the right to delete log files).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log_int.h"
#include "troupe/error.h"
#include "wire.h"

#define BUFFER_DEFAULT ((size_t)1 << 20)
#define BUFFER_MIN     ((size_t)64 << 10)

int tp__log_strset(char **slot, const char *s)
{
	char *copy = NULL;
	if (s != NULL && s[0] != '\0' && (copy = strdup(s)) == NULL)
		return TP_ENOMEM;
	free(*slot);
	*slot = copy;
	return TP_OK;
}

int tp__log_format_ok(const char *fmt)
{
	for (const char *p = fmt; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == '\0' || strchr("TLNPAM%", *p) == NULL)
			return 0;
	}
	return 1;
}

const char *tp__log_level_name(int level)
{
	switch (level) {
	case TP_LOG_DEBUG:
		return "DEBUG";
	case TP_LOG_INFO:
		return "INFO";
	case TP_LOG_WARNING:
		return "WARNING";
	case TP_LOG_ERROR:
		return "ERROR";
	case TP_LOG_CRITICAL:
		return "CRITICAL";
	default:
		return NULL;
	}
}

const char *tp_log_level_name(int level)
{
	return tp__log_level_name(level);
}

int tp_log_level_parse(const char *s, int *out)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
	    {"debug", TP_LOG_DEBUG},     {"info", TP_LOG_INFO},
	    {"warning", TP_LOG_WARNING}, {"warn", TP_LOG_WARNING},
	    {"error", TP_LOG_ERROR},     {"critical", TP_LOG_CRITICAL}};
	char *end;
	if (s == NULL || out == NULL || s[0] == '\0')
		return TP_EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return TP_OK;
		}
	}
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v > 100)
		return TP_EINVAL;
	*out = (int)v;
	return TP_OK;
}

const char *tp__log_addr_path(const char *address)
{
	if (strncmp(address, "ipc://", 6) == 0)
		return address + 6;
	return address;
}

int tp_log_config_new(tp_log_config **out, const char *app_name)
{
	tp_log_config *c;
	if (out == NULL)
		return TP_EINVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return TP_ENOMEM;
	c->level = TP_LOG_INFO;
	c->console = 1;
	c->colour = TP_LOG_COLOUR_AUTO;
	c->buffer = BUFFER_DEFAULT;
	if (tp__log_strset(&c->app, app_name) != TP_OK ||
	    tp__log_strset(&c->name, "MainProcess") != TP_OK ||
	    tp__log_strset(&c->format, TP_LOG_FORMAT_DEFAULT) != TP_OK) {
		tp_log_config_free(c);
		return TP_ENOMEM;
	}
	*out = c;
	return TP_OK;
}

void tp__log_config_env(tp_log_config *c)
{
	const char *addr = getenv(TP_ENV_LOG_ADDRESS);
	const char *name = getenv(TP_ENV_LOG_NAME);
	if (addr == NULL || addr[0] == '\0')
		return;
	if (tp__log_strset(&c->address, addr) != TP_OK)
		return;
	c->console = 0; /* the actor writes */
	if (name != NULL && name[0] != '\0')
		tp__log_strset(&c->name, name);
}

void tp_log_config_free(tp_log_config *c)
{
	if (c == NULL)
		return;
	free(c->app);
	free(c->name);
	free(c->file);
	free(c->format);
	free(c->address);
	free(c);
}

int tp_log_config_set_name(tp_log_config *c, const char *name)
{
	if (c == NULL || name == NULL || name[0] == '\0')
		return TP_EINVAL;
	return tp__log_strset(&c->name, name);
}

int tp_log_config_set_level(tp_log_config *c, int level)
{
	if (c == NULL || level < 0 || level > 100)
		return TP_EINVAL;
	c->level = level;
	return TP_OK;
}

int tp_log_config_set_console(tp_log_config *c, int on, tp_log_colour colour)
{
	if (c == NULL || colour < TP_LOG_COLOUR_AUTO ||
	    colour > TP_LOG_COLOUR_NEVER)
		return TP_EINVAL;
	c->console = on != 0;
	c->colour = colour;
	return TP_OK;
}

int tp_log_config_set_file(tp_log_config *c, const char *path,
                           uint64_t max_bytes, unsigned backup_count)
{
	if (c == NULL || backup_count > 1000)
		return TP_EINVAL;
	c->max_bytes = max_bytes;
	c->backups = backup_count;
	return tp__log_strset(&c->file, path);
}

int tp_log_config_set_format(tp_log_config *c, const char *format)
{
	if (c == NULL || format == NULL || !tp__log_format_ok(format))
		return TP_EINVAL;
	return tp__log_strset(&c->format,
	                      format[0] ? format : TP_LOG_FORMAT_DEFAULT);
}

int tp_log_config_set_json(tp_log_config *c, int on)
{
	if (c == NULL)
		return TP_EINVAL;
	c->json = on != 0;
	return TP_OK;
}

int tp_log_config_set_delete_existing(tp_log_config *c, int on)
{
	if (c == NULL)
		return TP_EINVAL;
	c->delete_existing = on != 0;
	return TP_OK;
}

int tp_log_config_set_buffer(tp_log_config *c, size_t bytes)
{
	if (c == NULL)
		return TP_EINVAL;
	c->buffer = bytes < BUFFER_MIN ? BUFFER_MIN : bytes;
	return TP_OK;
}

int tp_log_config_set_block(tp_log_config *c, unsigned ms)
{
	if (c == NULL || ms > 60000)
		return TP_EINVAL;
	c->block_ms = ms;
	return TP_OK;
}

static const char *str(const char *s)
{
	return s != NULL ? s : "";
}

const char *tp_log_config_app(const tp_log_config *c)
{
	return c != NULL ? str(c->app) : "";
}

const char *tp_log_config_name(const tp_log_config *c)
{
	return c != NULL ? str(c->name) : "";
}

int tp_log_config_level(const tp_log_config *c)
{
	return c != NULL ? c->level : 0;
}

const char *tp_log_config_file(const tp_log_config *c)
{
	return c != NULL ? str(c->file) : "";
}

const char *tp_log_config_format(const tp_log_config *c)
{
	return c != NULL ? str(c->format) : "";
}

int tp_log_config_json(const tp_log_config *c)
{
	return c != NULL ? c->json : 0;
}

int tp_log_config_delete_existing(const tp_log_config *c)
{
	return c != NULL ? c->delete_existing : 0;
}

const char *tp_log_config_address(const tp_log_config *c)
{
	return c != NULL ? str(c->address) : "";
}

void tp__log_config_to_pb(const tp_log_config *c, Troupe__LogConfig *pb)
{
	troupe__log_config__init(pb);
	pb->app_name = (char *)str(c->app);
	pb->name = (char *)str(c->name);
	pb->level = c->level;
	pb->console = c->console;
	pb->colour = c->colour;
	pb->file = (char *)str(c->file);
	pb->max_bytes = c->max_bytes;
	pb->backup_count = c->backups;
	pb->format = (char *)str(c->format);
	pb->json = c->json;
	pb->delete_existing = c->delete_existing;
	pb->address = (char *)str(c->address);
	pb->buffer_bytes = c->buffer;
	pb->block_ms = c->block_ms;
}

int tp__log_config_from_pb(const Troupe__LogConfig *pb, tp_log_config **out)
{
	tp_log_config *c;
	int rv;
	if (pb->level < 0 || pb->level > 100 || pb->colour < 0 ||
	    pb->colour > TP_LOG_COLOUR_NEVER || pb->backup_count > 1000 ||
	    pb->block_ms > 60000 || !tp__log_format_ok(pb->format))
		return TP_EDECODE;
	if ((rv = tp_log_config_new(&c, pb->app_name)) != TP_OK)
		return rv;
	c->level = pb->level;
	c->console = pb->console;
	c->colour = pb->colour;
	c->max_bytes = pb->max_bytes;
	c->backups = pb->backup_count;
	c->json = pb->json;
	c->delete_existing = pb->delete_existing;
	c->block_ms = pb->block_ms;
	c->buffer = pb->buffer_bytes < BUFFER_MIN ? BUFFER_MIN
	                                          : (size_t)pb->buffer_bytes;
	if ((pb->name[0] && tp__log_strset(&c->name, pb->name) != TP_OK) ||
	    tp__log_strset(&c->file, pb->file) != TP_OK ||
	    (pb->format[0] &&
	     tp__log_strset(&c->format, pb->format) != TP_OK) ||
	    tp__log_strset(&c->address, pb->address) != TP_OK) {
		tp_log_config_free(c);
		return TP_ENOMEM;
	}
	*out = c;
	return TP_OK;
}

int tp__log_config_copy(const tp_log_config *c, tp_log_config **out)
{
	Troupe__LogConfig pb;
	tp__log_config_to_pb(c, &pb);
	int rv = tp__log_config_from_pb(&pb, out);
	return rv == TP_EDECODE ? TP_EINVAL : rv;
}

int tp_log_config_clone(const tp_log_config *c, const char *child_name,
                        tp_log_config **out)
{
	tp_log_config *n;
	int rv;
	if (c == NULL || child_name == NULL || child_name[0] == '\0' ||
	    out == NULL)
		return TP_EINVAL;
	if ((rv = tp__log_config_copy(c, &n)) != TP_OK)
		return rv;
	if ((rv = tp__log_strset(&n->name, child_name)) != TP_OK) {
		tp_log_config_free(n);
		return rv;
	}
	n->delete_existing = 0;
	*out = n;
	return TP_OK;
}

int tp_log_config_encode(const tp_log_config *c, void **buf, size_t *len)
{
	Troupe__LogConfig pb;
	if (c == NULL || buf == NULL || len == NULL)
		return TP_EINVAL;
	tp__log_config_to_pb(c, &pb);
	return tp__pack(&pb.base, 0, buf, len);
}

int tp_log_config_decode(const void *buf, size_t len, tp_log_config **out)
{
	ProtobufCMessage *m;
	int rv;
	if ((buf == NULL && len > 0) || out == NULL)
		return TP_EINVAL;
	rv = tp__unpack(&troupe__log_config__descriptor, buf, len, 1 << 20, &m);
	if (rv != TP_OK)
		return rv;
	rv = tp__log_config_from_pb((Troupe__LogConfig *)m, out);
	protobuf_c_message_free_unpacked(m, NULL);
	return rv;
}
