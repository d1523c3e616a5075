/*
 * paths.c - bulkwardenctl paths: the sending paths each identity used
 * (state.h "Sending paths"; learned by the milter at the relay), and
 * `paths approve ID PATH --by WHO [--ticket T]`, which releases a path
 * held by policy.governance.new_sending_path.action = "tempfail" with a
 * path-approve audit record. Every running milter sharing the store sees
 * the approval on the next message through that path (a pending path is
 * asked of the store each time).
 *
 * Untrusted input: the command line (bounded, escaped on output) and
 * stored rows (escaped on output).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/verbs.h"

/* The list: one line per path, or a JSON array. */
static int
list(struct ctl *c, const char *id)
{
	struct state *st = ctl_state(c);
	struct state_path *v;
	size_t n;
	char esc[128];
	if (id != NULL && registry_by_id(ctl_registry(c), id) == NULL) {
		ctl_err("no identity \"%s\" in %s", out_esc(id, esc, sizeof(esc)), c->conf_path);
		return CTL_FAIL;
	}
	if (state_paths(st, id, &v, &n) != 0) {
		ctl_err("cannot read the sending paths: %s", state_error(st));
		return CTL_FAIL;
	}
	if (c->json) {
		static struct jbuf j;
		struct out_array arr;
		char t[CTL_TIME_MAX];
		out_array_begin(&arr);
		for (size_t i = 0; i < n; i++) {
			const char *kind = "";
			state_path_kind(v[i].path, &kind);
			jbuf_begin(&j);
			jbuf_str(&j, "identity", v[i].id);
			jbuf_str(&j, "path", v[i].path);
			jbuf_str(&j, "kind", kind);
			jbuf_str(&j, "state", v[i].pending ? "pending" : "known");
			jbuf_str(&j, "first_seen", out_time(v[i].first_seen, t));
			if (v[i].approved_at != 0) {
				jbuf_str(&j, "approved_at", out_time(v[i].approved_at, t));
				jbuf_str(&j, "approved_by", v[i].approved_by);
				jbuf_str(&j, "ticket", v[i].ticket);
			}
			jbuf_end(&j);
			out_array_add(&arr, &j);
		}
		out_array_end(&arr);
	} else {
		char t1[CTL_TIME_MAX], t2[CTL_TIME_MAX], e1[CTL_ESC_MAX], e2[CTL_ESC_MAX],
		    e3[CTL_ESC_MAX];
		if (n > 0)
			printf("%-20s  %-40s  %-8s  %-20s  %s\n", "IDENTITY", "PATH", "STATE",
			       "FIRST SEEN", "APPROVED");
		for (size_t i = 0; i < n; i++) {
			printf("%-20s  %-40s  %-8s  %-20s  ", out_esc(v[i].id, e1, sizeof(e1)),
			       out_esc(v[i].path, e2, sizeof(e2)),
			       v[i].pending ? "pending" : "known", out_time(v[i].first_seen, t1));
			if (v[i].approved_at != 0)
				printf("%s by %s%s%s\n", out_time(v[i].approved_at, t2),
				       out_esc(v[i].approved_by, e1, sizeof(e1)),
				       v[i].ticket[0] ? " ticket " : "",
				       out_esc(v[i].ticket, e3, sizeof(e3)));
			else
				printf("-\n");
		}
		if (n == 0)
			printf("no sending paths recorded%s%s\n", id ? " for " : "",
			       id ? out_esc(id, esc, sizeof(esc)) : "");
	}
	free(v);
	return CTL_OK;
}

/* paths approve ID PATH --by WHO [--ticket T] */
static int
approve(struct ctl *c, const struct ctl_args *a, const char *verb)
{
	struct state_audit rec;
	char esc[128], e2[STATE_PATH_MAX * 4];
	if (a->npos != 3)
		return ctl_usage(verb, "paths approve needs an identity id and a path");
	if (a->by == NULL)
		return ctl_usage(verb, "--by is required");
	if (strlen(a->by) >= STATE_NAME_MAX)
		return ctl_usage(verb, "--by is longer than %d bytes", STATE_NAME_MAX - 1);
	if (a->ticket != NULL && strlen(a->ticket) >= STATE_NAME_MAX)
		return ctl_usage(verb, "--ticket is longer than %d bytes", STATE_NAME_MAX - 1);
	if (!state_path_kind(a->pos[2], NULL))
		return ctl_usage(verb, "\"%s\" is not a path (network:..., login:... or dkim:...)",
				 out_esc(a->pos[2], e2, sizeof(e2)));
	if (registry_by_id(ctl_registry(c), a->pos[1]) == NULL) {
		ctl_err("no identity \"%s\" in %s", out_esc(a->pos[1], esc, sizeof(esc)),
			c->conf_path);
		return CTL_FAIL;
	}
	struct state *st = ctl_state(c);
	int rc = state_path_approve(st, a->pos[1], a->pos[2], a->by, a->ticket, ctl_now(), &rec);
	if (rc < 0) {
		ctl_err("cannot approve: %s", state_error(st));
		return CTL_FAIL;
	}
	if (rc == 0) {
		if (c->json)
			printf("{\"approved\":false,\"reason\":\"already approved\"}\n");
		else
			printf("%s of %s is already approved: nothing changed\n",
			       out_esc(a->pos[2], e2, sizeof(e2)),
			       out_esc(a->pos[1], esc, sizeof(esc)));
		return CTL_OK;
	}
	ctl_audit_emit(c, &rec);
	if (c->json) {
		static struct jbuf j;
		jbuf_begin(&j);
		ctl_audit_json(&j, &rec);
		jbuf_end(&j);
		out_object(&j);
	} else {
		printf("approved %s of %s (audit record %lld, hash %.16s); running milters accept "
		       "it from the next message\n",
		       out_esc(a->pos[2], e2, sizeof(e2)), out_esc(a->pos[1], esc, sizeof(esc)),
		       rec.seq, rec.hash);
	}
	return CTL_OK;
}

int
ctl_paths(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	int rc = ctl_args_parse(c, argc, argv, "jbt", 3, &a);
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	if (a.npos >= 1 && strcmp(a.pos[0], "approve") == 0)
		return approve(c, &a, argv[0]);
	if (a.by != NULL || a.ticket != NULL)
		return ctl_usage(argv[0], "--by and --ticket go with paths approve");
	if (a.npos > 1)
		return ctl_usage(argv[0], "paths takes at most one identity id");
	return list(c, a.npos == 1 ? a.pos[0] : NULL);
}
