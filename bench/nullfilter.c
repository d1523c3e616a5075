/*
 * nullfilter - a libmilter filter with the same callbacks and negotiation as
 * bulkwarden (connect, envfrom, envrcpt, header, eoh, body, eom, abort, close,
 * negotiate) that decides nothing: the ceiling for any libmilter filter.
 *
 *   nullfilter -p unix:/path/sock [-r]
 *
 * Default: accept every message (continue at every step).  -r: refuse every
 * message at MAIL FROM with a 550 custom reply, as bulkwarden refuses an
 * unregistered login (smfi_setreply + SMFIS_REJECT), so the refuse path can
 * be compared like for like.  Per-connection context: one calloc'd struct
 * (as bulkwarden's), freed at close.  No untrusted input is interpreted.
 *
 * Build: cc -O2 -pthread -o bench/nullfilter bench/nullfilter.c -lmilter
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct connctx {
	unsigned long pflags;
	unsigned long msgs;
};

static int refuse_at_mail;
static int listen_tcp;

static struct connctx *
conn(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	if (cc == NULL) {
		cc = calloc(1, sizeof(*cc));
		if (cc != NULL)
			smfi_setpriv(ctx, cc);
	}
	return cc;
}

static sfsistat
cont(SMFICTX *ctx, unsigned long nr)
{
	struct connctx *cc = smfi_getpriv(ctx);
	return (cc != NULL && (cc->pflags & nr)) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* Same request as bulkwarden's mlfi_negotiate. */
static sfsistat
nf_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3,
	     unsigned long *pf0, unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	(void)f2;
	(void)f3;
	struct connctx *cc = conn(ctx);
	if (cc == NULL)
		return SMFIS_REJECT;
	*pf0 = f0 & (SMFIF_QUARANTINE | SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST);
	unsigned long want = SMFIP_NOHELO | SMFIP_NOUNKNOWN;
	if (!listen_tcp) /* as bulkwarden: over TCP, DATA with a reply (Nagle) */
		want |= SMFIP_NODATA;
	want |= SMFIP_NR_CONN | SMFIP_NR_HDR | SMFIP_NR_BODY | SMFIP_NR_HELO;
	want |= SMFIP_HDR_LEADSPC;
	*pf1 = f1 & want;
	*pf2 = 0;
	*pf3 = 0;
	cc->pflags = *pf1;
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT, "{client_addr} {daemon_name} {daemon_port} j");
		smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen} {auth_type} {client_addr}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		smfi_setsymlist(ctx, SMFIM_EOH, "i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
nf_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)host;
	(void)sa;
	conn(ctx);
	return cont(ctx, SMFIP_NR_CONN);
}

static sfsistat
nf_envfrom(SMFICTX *ctx, char **argv)
{
	(void)argv;
	struct connctx *cc = conn(ctx);
	(void)smfi_getsymval(ctx, "{auth_authen}"); /* what any real filter reads */
	(void)smfi_getsymval(ctx, "i");
	if (cc != NULL)
		cc->msgs++;
	if (refuse_at_mail) {
		smfi_setreply(ctx, "550", "5.7.1", "[unregistered] null filter refuses");
		return SMFIS_REJECT;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
nf_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_data(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_header(SMFICTX *ctx, char *name, char *value)
{
	(void)name;
	(void)value;
	return cont(ctx, SMFIP_NR_HDR);
}

static sfsistat
nf_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_body(SMFICTX *ctx, unsigned char *b, size_t n)
{
	(void)b;
	(void)n;
	return cont(ctx, SMFIP_NR_BODY);
}

static sfsistat
nf_eom(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_abort(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static sfsistat
nf_close(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	free(cc);
	smfi_setpriv(ctx, NULL);
	return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
    .xxfi_name = "nullfilter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_QUARANTINE | SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST,
    .xxfi_connect = nf_connect,
    .xxfi_envfrom = nf_envfrom,
    .xxfi_envrcpt = nf_envrcpt,
    .xxfi_data = nf_data,
    .xxfi_header = nf_header,
    .xxfi_eoh = nf_eoh,
    .xxfi_body = nf_body,
    .xxfi_eom = nf_eom,
    .xxfi_abort = nf_abort,
    .xxfi_close = nf_close,
    .xxfi_negotiate = nf_negotiate,
};

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	int c;
	while ((c = getopt(argc, argv, "p:r")) != -1) {
		if (c == 'p')
			sock = optarg;
		else if (c == 'r')
			refuse_at_mail = 1;
		else
			sock = NULL;
	}
	if (sock == NULL) {
		fprintf(stderr, "usage: nullfilter -p unix:/path|inet:PORT@127.0.0.1 [-r]\n");
		return 2;
	}
	if (strncmp(sock, "unix:", 5) == 0 || strncmp(sock, "local:", 6) == 0)
		unlink(strchr(sock, ':') + 1);
	listen_tcp = strncmp(sock, "inet", 4) == 0;
	if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS) {
		fprintf(stderr, "nullfilter: cannot set up %s\n", sock);
		return 1;
	}
	smfi_setbacklog(128);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
