/* serve.h — the agent listening on TCP (`segsync serve --listen`). */
#ifndef SEGSYNC_CLI_SERVE_H
#define SEGSYNC_CLI_SERVE_H

#include "cli/options.h"

/* Listen on o->listen_host:o->listen_port and serve o->source to clients
 * holding the token in o->token_file, until SIGTERM/SIGINT/SIGHUP. Logs
 * each connection and each refusal as one line on stderr. Exit status. */
int cli_serve_listen(const cli_options *o);

#endif
