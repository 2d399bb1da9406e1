/*
 * log: one line per event on standard error, with a UTC timestamp and a
 * level; thread-safe (one write(2) per line).  Security denials go through
 * log_deny() so that they are easy to find ("DENY").
 */
#ifndef CS_LOG_H
#define CS_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* log_set_level(l): lines above l are dropped (default LOG_INFO). */
void log_set_level(enum log_level l);

void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif /* CS_LOG_H */
