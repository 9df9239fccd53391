/*
 * test_mgr_wire.c - the manager's directly written call request and reply
 * (mgr/mgr_wire.c) are protobuf-c's bytes, for every field present or
 * absent, negative codes and timeouts, empty and large payloads; the
 * direct reply reader reads them back and leaves anything else (other
 * fields, damage) to protobuf-c; the size limit is TP_ETOOBIG.
 */
#include <stdlib.h>
#include <string.h>

#include "mgr_int.h"
#include "testutil.h"
#include "wire.h"

static unsigned char *pbc_env(Troupe__Envelope *env, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(&env->base);
	unsigned char *b = malloc(*len ? *len : 1);
	assert_non_null(b);
	protobuf_c_message_pack(&env->base, b);
	return b;
}

static void check_req(const struct tp__mgr_req *rq)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__MgrRequest m = TROUPE__MGR_REQUEST__INIT;
	Troupe__Payload pb = TROUPE__PAYLOAD__INIT;
	uint8_t small[64];
	void *buf;
	size_t len, rlen;
	env.correlation_id = rq->corr;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REQUEST;
	env.mgr_request = &m;
	m.op = rq->op;
	m.object = rq->object;
	m.name = (char *)(rq->name ? rq->name : "");
	m.key = (char *)(rq->key ? rq->key : "");
	m.timeout_ms = rq->timeout_ms;
	if (rq->args != NULL && rq->args->count > 0) {
		TP_OK_OR_FAIL(tp__payload_to_pb(rq->args, &pb));
		m.args = &pb;
	}
	unsigned char *ref = pbc_env(&env, &rlen);
	TP_OK_OR_FAIL(
	    tp__mgr_req_pack(rq, 0, small, sizeof(small), &buf, &len));
	assert_int_equal(len, rlen);
	assert_memory_equal(buf, ref, len);
	assert_true((buf == small) == (len <= sizeof(small)));
	/* and the server's direct reader reads it back */
	struct tp__mgr_req_in in;
	size_t nl = rq->name ? strlen(rq->name) : 0;
	size_t kl = rq->key ? strlen(rq->key) : 0;
	assert_int_equal(tp__mgr_req_read(buf, len, &in), 1);
	assert_true(in.corr == rq->corr && in.op == rq->op &&
	            in.object == rq->object && in.timeout_ms == rq->timeout_ms);
	assert_true(in.name_len == nl && in.key_len == kl);
	assert_true(nl == 0 || memcmp(in.name, rq->name, nl) == 0);
	assert_true(kl == 0 || memcmp(in.key, rq->key, kl) == 0);
	assert_int_equal(in.has_args, m.args != NULL);
	for (size_t cut = 0; cut < len && len < 64; cut++)
		if (tp__mgr_req_read(buf, cut, &in))
			assert_true(cut == 0 || in.corr == rq->corr);
	if (buf != small)
		free(buf);
	if (m.args != NULL)
		tp__payload_pb_release(&pb);
	free(ref);
}

static void check_reply(uint64_t corr, int code, const tp_payload *res)
{
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__MgrReply m = TROUPE__MGR_REPLY__INIT;
	Troupe__Payload pb = TROUPE__PAYLOAD__INIT;
	uint8_t small[64];
	void *buf;
	size_t len, rlen;
	env.correlation_id = corr;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REPLY;
	env.mgr_reply = &m;
	m.code = code;
	if (res != NULL) {
		TP_OK_OR_FAIL(tp__payload_to_pb(res, &pb));
		m.result = &pb;
	}
	unsigned char *ref = pbc_env(&env, &rlen);
	TP_OK_OR_FAIL(tp__mgr_reply_pack(corr, code, res, 0, small,
	                                 sizeof(small), &buf, &len));
	assert_int_equal(len, rlen);
	assert_memory_equal(buf, ref, len);
	/* and the direct reader reads it back */
	struct tp__mgr_rep r;
	assert_int_equal(tp__mgr_reply_read(buf, len, &r), 1);
	assert_true(r.corr == corr && r.code == code && r.object == 0);
	assert_int_equal(r.has_result, res != NULL);
	if (res != NULL) {
		tp_payload *q;
		TP_OK_OR_FAIL(tp__payload_unpack(r.result, r.result_len, &q));
		assert_int_equal(q->count, res->count);
		tp_payload_free(q);
	}
	if (buf != small)
		free(buf);
	if (res != NULL)
		tp__payload_pb_release(&pb);
	free(ref);
}

static void test_same_bytes_as_protobuf_c(void **state)
{
	(void)state;
	tp_payload *one, *many, *empty;
	char big[500];
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	TP_OK_OR_FAIL(tp_payload_new(&one));
	TP_OK_OR_FAIL(tp_payload_add_int(one, 7));
	TP_OK_OR_FAIL(tp_payload_new(&many));
	TP_OK_OR_FAIL(tp_payload_add_int(many, -1));
	TP_OK_OR_FAIL(tp_payload_add_string(many, big));
	TP_OK_OR_FAIL(tp_payload_add_bytes(many, "", 0));
	TP_OK_OR_FAIL(tp_payload_add_none(many));
	TP_OK_OR_FAIL(tp_payload_new(&empty));
	static const int32_t timeouts[] = {0,    -1,        1,
	                                   5000, INT32_MIN, INT32_MAX};
	const tp_payload *args[] = {NULL, empty, one, many};
	const char *names[] = {NULL, "", "__setitem__", big};
	for (size_t t = 0; t < sizeof(timeouts) / sizeof(timeouts[0]); t++)
		for (size_t a = 0; a < 4; a++)
			for (size_t n = 0; n < 4; n++) {
				struct tp__mgr_req rq = {
				    .corr = t * 1000 + a,
				    .op = (uint32_t)n,
				    .object = n ? (uint64_t)1 << (7 * n) : 0,
				    .name = names[n],
				    .key = names[3 - n],
				    .args = args[a],
				    .timeout_ms = timeouts[t]};
				check_req(&rq);
			}
	static const int codes[] = {0, 1, -1, TP_EDIED, TP_ETOOBIG};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		check_reply(i, codes[i], NULL);
		check_reply(1ull << 40, codes[i], one);
		check_reply(0, codes[i], many);
		check_reply(3, codes[i], empty);
	}
	tp_payload_free(one);
	tp_payload_free(many);
	tp_payload_free(empty);
}

/* Replies with fields the direct reader does not take (a nonce, a
 * message, another body, damage) are left to protobuf-c. */
static void test_reader_leaves_the_rest(void **state)
{
	(void)state;
	Troupe__Envelope env = TROUPE__ENVELOPE__INIT;
	Troupe__MgrReply m = TROUPE__MGR_REPLY__INIT;
	uint8_t nonce[4] = {1, 2, 3, 4};
	struct tp__mgr_rep r;
	size_t len;
	env.correlation_id = 5;
	env.body_case = TROUPE__ENVELOPE__BODY_MGR_REPLY;
	env.mgr_reply = &m;
	m.code = 3;
	m.object = 77;
	unsigned char *b = pbc_env(&env, &len);
	assert_int_equal(tp__mgr_reply_read(b, len, &r), 1);
	assert_true(r.corr == 5 && r.code == 3 && r.object == 77);
	for (size_t cut = 0; cut < len; cut++) /* every cut: refused */
		assert_int_equal(tp__mgr_reply_read(b, cut, &r), 0);
	free(b);
	m.nonce.data = nonce;
	m.nonce.len = sizeof(nonce);
	b = pbc_env(&env, &len);
	assert_int_equal(tp__mgr_reply_read(b, len, &r), 0);
	free(b);
	m.nonce.len = 0;
	m.message = "why";
	b = pbc_env(&env, &len);
	assert_int_equal(tp__mgr_reply_read(b, len, &r), 0);
	free(b);
	env.sender = "s";
	m.message = "";
	b = pbc_env(&env, &len);
	assert_int_equal(tp__mgr_reply_read(b, len, &r), 0);
	free(b);
	/* a request with a nonce (the handshake's) is not read directly */
	Troupe__Envelope e2 = TROUPE__ENVELOPE__INIT;
	Troupe__MgrRequest q = TROUPE__MGR_REQUEST__INIT;
	struct tp__mgr_req_in in;
	e2.body_case = TROUPE__ENVELOPE__BODY_MGR_REQUEST;
	e2.mgr_request = &q;
	q.op = 4;
	b = pbc_env(&e2, &len);
	assert_int_equal(tp__mgr_req_read(b, len, &in), 1);
	free(b);
	q.nonce.data = nonce;
	q.nonce.len = sizeof(nonce);
	b = pbc_env(&e2, &len);
	assert_int_equal(tp__mgr_req_read(b, len, &in), 0);
	free(b);
}

static void test_size_limit(void **state)
{
	(void)state;
	tp_payload *p;
	void *buf;
	size_t len;
	char *big = calloc(1, 4096);
	TP_OK_OR_FAIL(tp_payload_new(&p));
	TP_OK_OR_FAIL(tp_payload_add_bytes(p, big, 4096));
	struct tp__mgr_req rq = {.corr = 1, .op = 2, .args = p};
	TP_EXPECT(tp__mgr_req_pack(&rq, 4096, NULL, 0, &buf, &len), TP_ETOOBIG);
	TP_EXPECT(tp__mgr_reply_pack(1, 0, p, 4096, NULL, 0, &buf, &len),
	          TP_ETOOBIG);
	TP_OK_OR_FAIL(tp__mgr_reply_pack(1, 0, p, 0, NULL, 0, &buf, &len));
	assert_true(len > 4096);
	free(buf);
	tp_payload_free(p);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_bytes_as_protobuf_c),
	    cmocka_unit_test(test_reader_leaves_the_rest),
	    cmocka_unit_test(test_size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
