/*
 * metrics.h: Apache's scoreboard for mod_wsgi.server_metrics().
 *
 * The runtime asks for it through a reader callback installed in the
 * configuration; metrics.c copies the scoreboard's fields into the
 * runtime's builder and nothing more (the Python dict is built in Rust).
 */
#ifndef WSGIRT_APACHE_METRICS_H
#define WSGIRT_APACHE_METRICS_H

#include "wsgirt.h"

/*
 * Installs the scoreboard reader into `config`. Threading: the reader runs
 * on whichever thread calls server_metrics(), without the GIL; it only
 * reads the shared scoreboard, as mod_status does.
 */
void wsgi_scoreboard_install(wsgirt_config *config);

#endif
