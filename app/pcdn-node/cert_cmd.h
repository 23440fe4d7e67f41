/* pcdn-node cert ...: key and certificate making for an overlay (operator CA, self-signed). */
#ifndef PCDN_NODE_CERT_CMD_H
#define PCDN_NODE_CERT_CMD_H

/* argv[0] is "cert"; returns the process exit status. */
int cert_command(int argc, char **argv);

#endif
