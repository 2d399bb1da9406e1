/*
 * config: defaults, config file and flags.
 */
#include "config.h"
#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_STR, K_UINT, K_U64, K_BOOL };

struct key {
	const char *name;
	enum kind kind;
	size_t off, size;
	const char *help;
};

#define S(f, h)                                                                                    \
	{                                                                                          \
#f, K_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), h          \
	}
#define U(f, h)                                                                                    \
	{                                                                                          \
#f, K_UINT, offsetof(struct config, f), sizeof(unsigned), h                        \
	}
#define L(f, h)                                                                                    \
	{                                                                                          \
#f, K_U64, offsetof(struct config, f), sizeof(uint64_t), h                         \
	}
#define B(f, h)                                                                                    \
	{                                                                                          \
#f, K_BOOL, offsetof(struct config, f), sizeof(bool), h                            \
	}

static const struct key keys[] = {
	S(listen, "address to listen on"),
	U(port, "TCP port (0: any free port; see port-file)"),
	S(store, "object store: fs (data-dir) or rados (a Ceph pool shared by front-ends)"),
	S(data_dir, "directory of the encrypted object store (store = fs)"),
	S(rados_conf, "store = rados: ceph.conf path (empty: librados' default search)"),
	S(rados_user, "store = rados: Ceph client name, e.g. client.cryptstore"),
	S(rados_keyring, "store = rados: keyring of rados-user (empty: as ceph.conf says)"),
	S(rados_pool, "store = rados: pool holding objects, sealed keys and records"),
	S(rados_namespace, "store = rados: RADOS namespace in the pool (empty: default)"),
	U(rados_op_timeout, "store = rados: seconds before a cluster operation fails (503)"),
	S(keys_dir, "keystore directory (0700; keep it off the data disk)"),
	S(root_key, "root key file (0600) sealing the keystore"),
	S(root_passphrase, "derive the root key from a passphrase instead: 'tty' or 'fd:N'"),
	U(scrypt_logn, "passphrase KDF cost on first start: scrypt N = 2^this (17: 128 MiB)"),
	S(admin_socket, "Unix control socket for `cryptstore admin` (0600)"),
	S(audit_dir, "directory of the tamper-evident audit log"),
	L(audit_rotate, "rotate the audit log when it reaches this many bytes"),
	S(user, "drop privileges to this user after start-up (when started as root)"),
	B(sandbox, "confine the server with a seccomp allow-list after start-up (true/false)"),
	S(tls_cert, "PEM certificate chain: with tls_key the port speaks HTTPS (TLS) only"),
	S(tls_key, "PEM private key of tls_cert (mode 0600)"),
	S(tls_client_ca, "PEM CA bundle: mutual TLS, a client certificate's CN names its user"),
	S(tls_client_auth, "with tls_client_ca: require or optional client certificates"),
	S(tls_min_version, "oldest TLS version accepted: 1.3 or 1.2"),
	S(region, "region name clients sign for"),
	S(suite, "suite for new objects: aes-256-cbc-hmac-sha256 or aes-256-gcm"),
	S(engine, "crypto engine: auto, evp or ipsec-mb"),
	U(chunk_size, "plaintext bytes per chunk (multiple of 16, 16..65408)"),
	S(model, "thread (threads of one process) or process (a process per connection)"),
	U(seal_workers, "threads sealing upload batches beside the connections (0: one per CPU)"),
	B(pipeline, "seal an upload's batches on the workers while receiving (true/false)"),
	B(event_loop, "receive plain-HTTP upload bodies on epoll loops, not on each connection's "
		      "thread (with pipeline; true/false)"),
	U(event_loops, "event loops receiving upload bodies (0: one per 4 CPUs, at least one)"),
	B(etag_md5, "ETag = MD5 of the data, as S3 (false: a random id per write; saves the MD5)"),
	B(md5_batch, "hash concurrent uploads' MD5s together in SIMD lanes (true/false)"),
	B(seal_batch, "seal concurrent uploads' last chunks in one engine call (true/false)"),
	U(max_conns, "concurrent connections; more get 503 SlowDown"),
	U(header_timeout, "seconds to receive a request's head"),
	U(body_timeout, "seconds without a body byte before the request fails"),
	U(idle_timeout, "seconds a keep-alive connection may idle"),
	U(clock_skew, "seconds of clock difference allowed in signatures"),
	L(max_object, "largest single PUT or part, bytes"),
	B(sync, "fdatasync and fsync before acknowledging a write (true/false)"),
	B(direct_io, "write uploads' full batches with O_DIRECT, past the page cache, where the "
		     "file system allows (file store, not tmpfs; CBC suite; true/false)"),
	S(log_level, "error, warn, info or debug"),
	S(init_levels, "levels whose keys are created on first start"),
	B(init_demo, "first start: one bucket per level and a printed test identity"),
	S(port_file, "write the bound port to this file once listening"),
	S(credentials_file, "demo mode: write the test identity's keys to this file (0600)"),
};

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1");
	c->port = 9000;
	snprintf(c->store, sizeof(c->store), "fs");
	snprintf(c->data_dir, sizeof(c->data_dir), "/var/lib/cryptstore/data");
	snprintf(c->rados_user, sizeof(c->rados_user), "client.cryptstore");
	snprintf(c->rados_pool, sizeof(c->rados_pool), "cryptstore");
	c->rados_op_timeout = 30;
	snprintf(c->keys_dir, sizeof(c->keys_dir), "/etc/cryptstore/keys");
	snprintf(c->root_key, sizeof(c->root_key), "/etc/cryptstore/root.key");
	snprintf(c->admin_socket, sizeof(c->admin_socket), "/run/cryptstore/admin.sock");
	snprintf(c->audit_dir, sizeof(c->audit_dir), "/var/log/cryptstore");
	c->audit_rotate = 16u << 20;
	c->scrypt_logn = 17;
	c->sandbox = true;
	snprintf(c->tls_client_auth, sizeof(c->tls_client_auth), "require");
	snprintf(c->tls_min_version, sizeof(c->tls_min_version), "1.3");
	snprintf(c->region, sizeof(c->region), "us-east-1");
	snprintf(c->suite, sizeof(c->suite), "aes-256-cbc-hmac-sha256");
	snprintf(c->engine, sizeof(c->engine), "auto");
	c->chunk_size = 32768;
	snprintf(c->model, sizeof(c->model), "thread");
	c->pipeline = true;
	c->event_loop = true;
	c->etag_md5 = true;
	c->md5_batch = true;
	c->seal_batch = true;
	c->max_conns = 1024;
	c->header_timeout = 30;
	c->body_timeout = 60;
	c->idle_timeout = 60;
	c->clock_skew = 900;
	c->max_object = 5ull << 30;
	c->sync = true;
	c->direct_io = true;
	snprintf(c->log_level, sizeof(c->log_level), "info");
	snprintf(c->init_levels, sizeof(c->init_levels), "s0,s1,s2,s3");
	c->init_demo = false;
}

static bool
same_key(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;

		if (x != y)
			return false;
	}
	return *a == '\0' && *b == '\0';
}

int
config_set(struct config *c, const char *key, const char *value, char *why, size_t whylen)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		char *p = (char *)c + k->off, *end;
		unsigned long long v;

		if (!same_key(k->name, key))
			continue;
		switch (k->kind) {
		case K_STR:
			if (strlen(value) >= k->size) {
				snprintf(why, whylen, "%s: value too long (max %zu)", key,
					 k->size - 1);
				return CS_EINVAL;
			}
			memcpy(p, value, strlen(value) + 1);
			return 0;
		case K_UINT:
		case K_U64:
			errno = 0;
			v = strtoull(value, &end, 10);
			if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
			    (k->kind == K_UINT && v > 0xffffffffull)) {
				snprintf(why, whylen, "%s: '%s' is not a number", key, value);
				return CS_EINVAL;
			}
			if (k->kind == K_UINT)
				*(unsigned *)(void *)p = (unsigned)v;
			else
				*(uint64_t *)(void *)p = v;
			return 0;
		case K_BOOL:
			if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
			    strcmp(value, "1") == 0)
				*(bool *)(void *)p = true;
			else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
				 strcmp(value, "0") == 0)
				*(bool *)(void *)p = false;
			else {
				snprintf(why, whylen, "%s: '%s' is not true or false", key, value);
				return CS_EINVAL;
			}
			return 0;
		default:
			return CS_EINVAL;
		}
	}
	snprintf(why, whylen, "unknown setting '%s' (see --help)", key);
	return CS_EINVAL;
}

int
config_load(struct config *c, const char *path, char *why, size_t whylen)
{
	char line[1024];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return CS_EIO;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k = line, *eq, *v, *e;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(why, whylen, "%s:%u: line too long", path, lineno);
			fclose(f);
			return CS_EINVAL;
		}
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || *k == '\n' || *k == '\0')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(why, whylen, "%s:%u: expected 'key = value'", path, lineno);
			fclose(f);
			return CS_EINVAL;
		}
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v);
		     e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t');
		     e--)
			;
		*e = '\0';
		if (config_set(c, k, v, why, whylen) != 0) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", why);
			snprintf(why, whylen, "%s:%u: %s", path, lineno, msg);
			fclose(f);
			return CS_EINVAL;
		}
	}
	fclose(f);
	return 0;
}

void
config_usage(void *fp)
{
	FILE *f = fp;
	struct config d;

	config_defaults(&d);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		const char *p = (const char *)&d + k->off;
		char dash[64];

		snprintf(dash, sizeof(dash), "%s", k->name);
		for (char *x = dash; *x; x++)
			if (*x == '_')
				*x = '-';
		switch (k->kind) {
		case K_STR:
			fprintf(f, "  --%-16s %s [%s]\n", dash, k->help, p);
			break;
		case K_UINT:
			fprintf(f, "  --%-16s %s [%u]\n", dash, k->help,
				*(const unsigned *)(const void *)p);
			break;
		case K_U64:
			fprintf(f, "  --%-16s %s [%llu]\n", dash, k->help,
				(unsigned long long)*(const uint64_t *)(const void *)p);
			break;
		default:
			fprintf(f, "  --%-16s %s [%s]\n", dash, k->help,
				*(const bool *)(const void *)p ? "true" : "false");
			break;
		}
	}
}
