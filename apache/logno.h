/*
 * logno.h: stable ids for wsgirt's log messages, as Apache's APLOGNO gives
 * AH numbers. WSGIRT_LOGNO(0701) expands to the string prefix
 * "WSGIRT0701: ". Every id is listed, with its meaning and the usual fix, in
 * docs/log-messages.md (tests/log_messages.rs keeps the two in step).
 */
#ifndef WSGIRT_APACHE_LOGNO_H
#define WSGIRT_APACHE_LOGNO_H

#define WSGIRT_LOGNO(n) "WSGIRT" #n ": "

#endif
