/*
 * creds: the access key, secret, region and endpoint, from the command
 * line, the AWS environment variables and the AWS credentials and config
 * files (creds.h gives the order).
 *
 * The files are INI: "[section]" lines, "key = value" lines, '#' and ';'
 * comment lines.  An indented line after a key with an empty value belongs
 * to a nested block ("s3 =\n  endpoint_url = ...") and is skipped rather
 * than misread.  Each file is read whole into one buffer, which is wiped
 * before it is freed, because it may hold other profiles' secrets too.
 */
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util/secmem.h"

/* A credentials or config file held in memory. */
struct inifile {
	char *buf; /* NULL when the file does not exist */
	size_t len;
	char path[4096];
};

static void why_set(char *why, size_t whysz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
why_set(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
}

/* home_dir(): $HOME, else the password database's home, else NULL. */
static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && h[0] != '\0')
		return h;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_dir : NULL;
}

/*
 * file_path(env, dflt, out, outsz): the file named by the environment
 * variable env (a leading "~/" is the home directory) or ~/dflt.  Returns 0,
 * or -1 when there is no home directory or the path is too long.
 */
static int
file_path(const char *env, const char *dflt, char *out, size_t outsz)
{
	const char *v = getenv(env), *home = home_dir();
	int n;

	if (v != NULL && v[0] != '\0') {
		if (strncmp(v, "~/", 2) == 0 && home != NULL)
			n = snprintf(out, outsz, "%s/%s", home, v + 2);
		else
			n = snprintf(out, outsz, "%s", v);
	} else {
		if (home == NULL)
			return -1;
		n = snprintf(out, outsz, "%s/%s", home, dflt);
	}
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static void
ini_free(struct inifile *f)
{
	if (f->buf != NULL) {
		OPENSSL_cleanse(f->buf, f->len);
		free(f->buf);
	}
	f->buf = NULL;
	f->len = 0;
}

/*
 * ini_read(f, env, dflt, why, whysz): read the file (see file_path) into f.
 * A file that does not exist leaves f->buf NULL.  Returns 0 or -1.
 */
static int
ini_read(struct inifile *f, const char *env, const char *dflt, char *why, size_t whysz)
{
	struct stat st;
	size_t got = 0;
	int fd;

	f->buf = NULL;
	f->len = 0;
	if (file_path(env, dflt, f->path, sizeof(f->path)) != 0) {
		f->path[0] = '\0';
		return 0; /* no home directory: no files */
	}
	if ((fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		why_set(why, whysz, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		why_set(why, whysz, "%s: %s", f->path, strerror(errno));
		goto err0;
	}
	if (!S_ISREG(st.st_mode) || (uintmax_t)st.st_size > CREDS_MAX_FILE) {
		why_set(why, whysz, "%s: not a regular file of at most %u bytes", f->path,
			CREDS_MAX_FILE);
		goto err0;
	}
	if ((f->buf = malloc((size_t)st.st_size + 1)) == NULL) {
		why_set(why, whysz, "%s: out of memory", f->path);
		goto err0;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, f->buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			why_set(why, whysz, "%s: %s", f->path, strerror(errno));
			goto err1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	f->len = got;
	f->buf[got] = '\0';
	close(fd);
	return 0;

err1:
	f->len = (size_t)st.st_size;
	ini_free(f);
err0:
	close(fd);
	return -1;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* trim(p, n): strip spaces from both ends of [*p, *p + *n). */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_space(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*p)[*n - 1]))
		(*n)--;
}

static bool
span_eq(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(p, s, n) == 0;
}

/*
 * section_is(p, n, config, profile): whether the section header "[p]" (p
 * without brackets, trimmed) is the one of profile: "[NAME]" in the
 * credentials file; "[profile NAME]" in the config file, where the default
 * profile is "[default]".
 */
static bool
section_is(const char *p, size_t n, bool config, const char *profile)
{
	if (!config || strcmp(profile, "default") == 0) {
		if (span_eq(p, n, profile))
			return true;
		if (!config)
			return false;
	}
	if (n < 8 || memcmp(p, "profile", 7) != 0 || !is_space(p[7]))
		return false;
	p += 8;
	n -= 8;
	trim(&p, &n);
	return span_eq(p, n, profile);
}

/*
 * ini_get(f, config, profile, key, out, outsz, found_section): the value of
 * key in profile's section.  Returns 1 (copied into out), 0 (absent) or -1
 * (longer than outsz - 1).  *found_section is set when the section exists.
 */
static int
ini_get(const struct inifile *f, bool config, const char *profile, const char *key, char *out,
	size_t outsz, bool *found_section)
{
	bool in = false, nested = false;
	size_t i = 0;
	int rc = 0;

	if (f->buf == NULL)
		return 0;
	while (i < f->len) {
		const char *line = f->buf + i, *nl = memchr(line, '\n', f->len - i);
		size_t n = nl != NULL ? (size_t)(nl - line) : f->len - i, kn, vn;
		const char *eq, *k, *v;
		bool indented = n > 0 && (line[0] == ' ' || line[0] == '\t');

		i += n + (nl != NULL);
		trim(&line, &n);
		if (n == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[') {
			nested = false;
			if (line[n - 1] != ']') {
				in = false;
				continue;
			}
			k = line + 1;
			kn = n - 2;
			trim(&k, &kn);
			in = section_is(k, kn, config, profile);
			if (in)
				*found_section = true;
			continue;
		}
		if (indented && nested)
			continue;
		nested = false;
		if (!in || (eq = memchr(line, '=', n)) == NULL)
			continue;
		k = line;
		kn = (size_t)(eq - line);
		v = eq + 1;
		vn = n - kn - 1;
		trim(&k, &kn);
		trim(&v, &vn);
		if (vn == 0) {
			nested = true; /* an empty value is absent, and may open a block */
			continue;
		}
		if (!span_eq(k, kn, key))
			continue;
		/* The last assignment wins, as in Python's configparser. */
		if (vn >= outsz) {
			rc = -1;
			continue;
		}
		memcpy(out, v, vn);
		out[vn] = '\0';
		rc = 1;
	}
	return rc;
}

/* secret_take(c, p, n): copy n bytes of secret into secure memory. */
static int
secret_take(struct creds *c, const char *p, size_t n, char *why, size_t whysz)
{
	if (n == 0 || n > SIGV4_MAX_SECRET) {
		why_set(why, whysz, "%s: the secret access key must be 1 to %d bytes", c->source,
			SIGV4_MAX_SECRET);
		return -1;
	}
	if ((c->secret = secmem_alloc(n)) == NULL) {
		why_set(why, whysz, "no secure memory for the secret access key");
		return -1;
	}
	memcpy(c->secret, p, n);
	c->secret_len = n;
	return 0;
}

static bool
akid_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SIGV4_MAX_AKID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] == '/' || s[i] == ',' || s[i] == 0x7f)
			return false;
	return true;
}

static bool
region_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SIGV4_MAX_REGION)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* keys_from_env(c): AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.  Returns 1
 * when both are set and taken, 0 when not both are set, -1 on error. */
static int
keys_from_env(struct creds *c, char *why, size_t whysz)
{
	char *akid = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");

	if (akid == NULL || secret == NULL || akid[0] == '\0' || secret[0] == '\0')
		return 0;
	snprintf(c->source, sizeof(c->source), "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
	if (strlen(akid) >= sizeof(c->akid)) {
		why_set(why, whysz, "AWS_ACCESS_KEY_ID is too long");
		return -1;
	}
	memcpy(c->akid, akid, strlen(akid) + 1);
	if (secret_take(c, secret, strlen(secret), why, whysz) != 0)
		return -1;
	/* Nothing else in this process needs it: wipe the environment's copy,
	 * which /proc/PID/environ would otherwise show. */
	OPENSSL_cleanse(secret, strlen(secret));
	unsetenv("AWS_SECRET_ACCESS_KEY");
	return 1;
}

/* keys_from_file(c, f, config, profile): the profile's keys in f.  Returns
 * 1 (taken), 0 (the profile has none) or -1. */
static int
keys_from_file(struct creds *c, const struct inifile *f, bool config, const char *profile,
	       bool *found, char *why, size_t whysz)
{
	char secret[SIGV4_MAX_SECRET + 2];
	int ra, rs, rc = -1;

	ra = ini_get(f, config, profile, "aws_access_key_id", c->akid, sizeof(c->akid), found);
	rs = ini_get(f, config, profile, "aws_secret_access_key", secret, sizeof(secret), found);
	snprintf(c->source, sizeof(c->source), "%s [%s]", f->path, profile);
	if (ra == 0 && rs == 0) {
		rc = 0;
		goto out;
	}
	if (ra != 1 || rs != 1) {
		why_set(why, whysz, "%s: needs both aws_access_key_id and aws_secret_access_key%s",
			c->source, ra < 0 || rs < 0 ? " (one is too long)" : "");
		goto out;
	}
	if (secret_take(c, secret, strlen(secret), why, whysz) != 0)
		goto out;
	rc = 1;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

int
creds_load(const struct creds_opts *o, struct creds *c, char *why, size_t whysz)
{
	struct inifile cred = {0}, conf = {0};
	const char *profile = o->profile, *v;
	bool explicit_profile = o->profile != NULL, found = false;
	int rc, err = CREDS_EBAD;

	memset(c, 0, sizeof(*c));
	if (profile == NULL)
		profile = env("AWS_PROFILE");
	if (profile == NULL)
		profile = "default";
	if (strlen(profile) > 64 || strpbrk(profile, "[]\n\r") != NULL) {
		why_set(why, whysz, "invalid profile name '%s'", profile);
		return CREDS_EBAD;
	}
	err = CREDS_EIO;
	if (ini_read(&cred, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", why, whysz) != 0)
		goto err0;
	if (ini_read(&conf, "AWS_CONFIG_FILE", ".aws/config", why, whysz) != 0)
		goto err0;
	err = CREDS_ENOKEYS;

	/* Keys. */
	rc = explicit_profile ? 0 : keys_from_env(c, why, whysz);
	if (rc == 0)
		rc = keys_from_file(c, &cred, false, profile, &found, why, whysz);
	if (rc == 0)
		rc = keys_from_file(c, &conf, true, profile, &found, why, whysz);
	if (rc < 0)
		goto err0;
	/* Reading region and endpoint_url also tells whether the profile exists. */
	if (ini_get(&conf, true, profile, "region", c->region, sizeof(c->region), &found) < 0 ||
	    ini_get(&conf, true, profile, "endpoint_url", c->endpoint, sizeof(c->endpoint),
		    &found) < 0) {
		why_set(why, whysz, "%s [%s]: region or endpoint_url is too long", conf.path,
			profile);
		err = CREDS_EBAD;
		goto err0;
	}
	if ((explicit_profile || env("AWS_PROFILE") != NULL) && !found) {
		why_set(why, whysz, "the profile '%s' is in neither %s nor %s", profile,
			cred.path[0] ? cred.path : "~/.aws/credentials",
			conf.path[0] ? conf.path : "~/.aws/config");
		goto err0;
	}
	if (rc == 0) {
		why_set(why, whysz,
			"no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put "
			"them in the profile '%s' of %s",
			profile, cred.path[0] ? cred.path : "~/.aws/credentials");
		goto err0;
	}
	if (!akid_ok(c->akid)) {
		why_set(why, whysz, "%s: the access key id is malformed", c->source);
		goto err0;
	}
	err = CREDS_EBAD;

	/* Region: the command line, the environment, the profile, the default. */
	if ((v = o->region) != NULL || (v = env("AWS_REGION")) != NULL ||
	    (v = env("AWS_DEFAULT_REGION")) != NULL) {
		if (strlen(v) >= sizeof(c->region)) {
			why_set(why, whysz, "region '%.80s' is too long", v);
			goto err0;
		}
		memcpy(c->region, v, strlen(v) + 1);
	}
	if (c->region[0] == '\0')
		snprintf(c->region, sizeof(c->region), "%s", CREDS_DEFAULT_REGION);
	if (!region_ok(c->region)) {
		why_set(why, whysz, "invalid region '%s' (lowercase letters, digits and '-')",
			c->region);
		goto err0;
	}

	/* Endpoint, likewise. */
	if ((v = o->endpoint) != NULL || (v = env("AWS_ENDPOINT_URL_S3")) != NULL ||
	    (v = env("AWS_ENDPOINT_URL")) != NULL) {
		if (strlen(v) >= sizeof(c->endpoint)) {
			why_set(why, whysz, "the endpoint URL is too long");
			goto err0;
		}
		memcpy(c->endpoint, v, strlen(v) + 1);
	}
	if (c->endpoint[0] == '\0')
		snprintf(c->endpoint, sizeof(c->endpoint), "%s", CREDS_DEFAULT_ENDPOINT);

	ini_free(&cred);
	ini_free(&conf);
	return 0;

err0:
	ini_free(&cred);
	ini_free(&conf);
	return err;
}

void
creds_clear(struct creds *c)
{
	if (c == NULL)
		return;
	secmem_free(c->secret, c->secret_len);
	OPENSSL_cleanse(c, sizeof(*c));
	memset(c, 0, sizeof(*c));
}
