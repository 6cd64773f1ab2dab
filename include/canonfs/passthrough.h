/*
 * passthrough: the kernel reads and writes a file's host file itself
 * (FUSE passthrough, Linux 6.9+), without a READ or WRITE round trip
 * through the daemon. libfuse 3.14 has no API for it: canonfs hooks the
 * session's I/O (fuse_session_custom_io) to see the kernel's INIT offer and
 * to add the passthrough bits to the INIT, OPEN and CREATE replies
 * (fuse_proto.h has the bytes).
 *
 * Where it is used (asked for; off by default):
 *  - -o passthrough: OPEN is answered, and every regular host file opened
 *    or created is read and written by the kernel;
 *  - -o passthrough=create: only files the build creates (the kernel
 *    sends CREATE even while OPEN is answered ENOSYS). Linux 6.18 fails
 *    with EIO an open made without OPEN of an inode that has a passthrough
 *    file open: a second open of a file while its creator still has it
 *    open (tail -f of a log being written) fails. Hence not the default.
 * Never for synthetic files, and not for files first opened or created
 * while a trace is active (its records need the daemon to see each read
 * and write). The kernel requires every open of an inode that has a
 * passthrough open to be one too, and one backing file per inode: so the
 * choice is made once per inode (struct inode.backing) and kept for its
 * life, with one backing id, given back when the inode is freed.
 *
 * It needs CAP_SYS_ADMIN (the backing-id ioctl), a kernel that offers it
 * at INIT, and the kernel's acceptance of the INIT reply; without any of
 * them everything goes through the daemon as before, and the stats
 * control file says why ("passthrough off-...").
 */
#ifndef CANONFS_PASSTHROUGH_H
#define CANONFS_PASSTHROUGH_H

#include <stdbool.h>
#include <stdint.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

struct canonfs_fs;
struct inode;

enum passthrough_state {
	PASSTHROUGH_BEFORE_INIT,
	PASSTHROUGH_ON,		/* accepted: backing ids are given */
	PASSTHROUGH_OFF_OPTION, /* not asked for */
	PASSTHROUGH_OFF_KERNEL, /* no FUSE_PASSTHROUGH in the INIT request */
	PASSTHROUGH_OFF_NO_CAP, /* the daemon lacks CAP_SYS_ADMIN */
	PASSTHROUGH_OFF_REFUSED /* the kernel did not take it from INIT */
};

struct passthrough {
	bool reads; /* -o passthrough: OPEN too; const */
	int dev_fd; /* the session's /dev/fuse (libfuse's); const after
		       mount, -1 without the hooks */
	/* From the INIT request (the read hook, before INIT is handled). */
	uint32_t kernel_minor;
	bool kernel_offers;
	uint32_t stack_depth; /* max_stack_depth asked for; const */
	int state;	      /* enum passthrough_state; atomic */
	/* The INIT reply asks for it: the state is decided right after the
	 * kernel has taken that reply, which other requests may follow
	 * first. Atomic. */
	bool init_asked;
};

/* Set up from the options, before the session exists. */
void passthrough_setup(struct canonfs_fs *fs);

/* Hook the session's I/O, right after it is mounted. Returns 0 or an
 * errno value; without a passthrough option nothing is hooked. */
int passthrough_attach(struct canonfs_fs *fs, struct fuse_session *se);

/* From INIT (op_init): decide, and have the INIT reply ask for it. */
void passthrough_init(struct canonfs_fs *fs, struct fuse_conn_info *conn);

/* Whether OPEN must be answered (-o passthrough, and the kernel takes
 * it): decided at INIT. */
bool passthrough_wants_open(const struct canonfs_fs *fs);

/*
 * The backing id of inode if its opens are passthrough (> 0), or 0. An
 * inode not decided yet is decided now: passthrough when `want` (the
 * caller's policy for a new inode) and a backing id can be had. Then,
 * before the reply: passthrough_arm_reply.
 */
int32_t passthrough_backing(struct canonfs_fs *fs, struct inode *inode,
			    bool want);

/* The next OPEN (create false) or CREATE reply of this thread goes out as
 * a passthrough open of backing id `id`. `writing`: the open may write,
 * so the host events of its writes are the daemon's own
 * (passthrough_own_event). */
void passthrough_arm_reply(struct inode *inode, int32_t id, bool create,
			   bool writing);
/* The reply was not sent after all (an error reply instead). */
void passthrough_disarm(void);

/*
 * A content event (IN_MODIFY, IN_CLOSE_WRITE: `mask`) for inode: true when
 * the kernel's passthrough writes explain it. The kernel already knows
 * the new size and refreshes attributes itself; its pages are not the
 * passthrough file's. The writer's close (IN_CLOSE_WRITE) ends it: later
 * events are the host's again.
 */
bool passthrough_own_event(struct inode *inode, uint32_t mask);

/* Give back inode's backing id (the inode is being freed). */
void passthrough_forget(int dev_fd, struct inode *inode);

/* The stats line's value: "create", "create+read", "off-<why>". */
const char *passthrough_describe(const struct canonfs_fs *fs);

#endif
