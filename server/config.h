/*
 * config: cryptstored's settings, from built-in defaults, then a config file
 * (`key = value` lines, '#' comments), then command-line flags, each later
 * source overriding the earlier.  Every key is also a flag: `--key value`.
 * `cryptstored --help` prints them with their defaults.
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config {
	char listen[64]; /* address */
	unsigned port;
	char store[8]; /* fs | rados */
	char data_dir[512];
	char rados_conf[512];      /* ceph.conf ("": librados' default search) */
	char rados_user[128];      /* client name ("": client.admin) */
	char rados_keyring[512];   /* keyring ("": as ceph.conf says) */
	char rados_pool[128];      /* pool of objects, keystore and events */
	char rados_namespace[128]; /* RADOS namespace in the pool ("": the default) */
	unsigned rados_op_timeout; /* seconds a cluster operation may take */
	char keys_dir[512];
	char root_key[512];
	char root_passphrase[32]; /* "", "tty" or "fd:N" */
	unsigned scrypt_logn;
	char admin_socket[108]; /* sun_path */
	char audit_dir[512];
	uint64_t audit_rotate;
	char user[64];            /* drop privileges to this user */
	bool sandbox;             /* seccomp allow-list once start-up is over */
	char tls_cert[512];       /* PEM chain: set with tls_key, the port speaks HTTPS only */
	char tls_key[512];        /* PEM private key (0600) */
	char tls_client_ca[512];  /* PEM CA(s) for client certificates (mutual TLS) */
	char tls_client_auth[16]; /* require | optional (with tls_client_ca) */
	char tls_min_version[8];  /* 1.3 | 1.2 */
	char region[64];
	char suite[32];  /* aes-256-cbc-hmac-sha256 | aes-256-gcm */
	char engine[16]; /* auto | evp | ipsec-mb */
	unsigned chunk_size;
	char model[16];        /* "thread" or "process" (a process per connection) */
	unsigned seal_workers; /* 0: one per online CPU */
	bool pipeline;         /* seal upload batches on the workers */
	bool event_loop;       /* upload bodies received on the event loops */
	unsigned event_loops;  /* 0: one per four online CPUs, at least one */
	bool etag_md5;         /* ETag = MD5 of the content (else the object's random id) */
	bool md5_batch;        /* MD5 updates of concurrent uploads hashed together */
	bool seal_batch;       /* small seals of concurrent uploads in one engine call */
	unsigned max_conns;
	unsigned header_timeout; /* seconds */
	unsigned body_timeout;   /* seconds without body bytes */
	unsigned idle_timeout;   /* seconds between keep-alive requests */
	unsigned clock_skew;     /* seconds */
	uint64_t max_object;     /* bytes, single PUT and part */
	bool sync;               /* fdatasync before acknowledging */
	bool direct_io;          /* O_DIRECT for aligned batches where possible (file store) */
	char log_level[8];       /* error | warn | info | debug */
	char init_levels[256];   /* levels created on first start, comma separated */
	bool init_demo;          /* first start: a bucket per level and a printed test identity */
	char port_file[512];     /* write the bound port here (tests: --port 0) */
	char credentials_file[512]; /* demo mode: write "level akid secret" lines here (0600) */
};

/* config_defaults(c): the built-in defaults. */
void config_defaults(struct config *c);

/*
 * config_set(c, key, value, why, whylen): set one key (as spelled in the
 * file; '-' and '_' are the same).  Returns 0 or CS_EINVAL with why set.
 */
int config_set(struct config *c, const char *key, const char *value, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* config_load(c, path, why, whylen): apply a config file. */
int config_load(struct config *c, const char *path, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* config_usage(f): print every key with its default and meaning. */
void config_usage(void *f);

#endif /* CS_CONFIG_H */
