/* pcdn-node's control socket: the operator line protocol of lib/ctl (one command per line;
 * reply "STATUS <code> <text>", "LENGTH <n>", n bytes of body) with commands that complete
 * asynchronously (store, fetch, ping and leave wait for the overlay). */
#ifndef PCDN_NODE_CONTROL_H
#define PCDN_NODE_CONTROL_H

struct event_base;
struct reload_node;
struct reload_overlay_config;
struct node_control;

/* on_leave runs once the node has left (the program then exits). */
struct node_control *node_control_new(struct event_base *base, const char *path,
				      struct reload_node *node,
				      const struct reload_overlay_config *ocfg,
				      void (*on_leave)(void *arg), void *arg);
void node_control_free(struct node_control *c);

#endif
