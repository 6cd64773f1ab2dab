/*
 * passthrough: FUSE passthrough through libfuse 3.14's custom I/O hooks
 * (see include/canonfs/passthrough.h).
 */
#include "canonfs/passthrough.h"

#include "canonfs/fs.h"
#include "canonfs/fuse_proto.h"
#include "canonfs/inode.h"
#include "canonfs/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif
#ifndef ECRYPTFS_SUPER_MAGIC
#define ECRYPTFS_SUPER_MAGIC 0xf15f
#endif

enum armed_kind { ARMED_NONE, ARMED_INIT, ARMED_OPEN, ARMED_CREATE };

/*
 * The reply this thread is about to write: libfuse writes a reply in the
 * thread that handled the request, from inside fuse_reply_*(), so the
 * operation arms it just before replying and the writev hook patches it.
 */
static _Thread_local struct {
	enum armed_kind kind;
	int32_t backing_id;
} armed;

static int load_state(const struct passthrough *pt)
{
	return __atomic_load_n(&pt->state, __ATOMIC_ACQUIRE);
}

static void set_state(struct passthrough *pt, enum passthrough_state state)
{
	__atomic_store_n(&pt->state, (int)state, __ATOMIC_RELEASE);
}

/* Whether the daemon holds CAP_SYS_ADMIN (the backing ioctl checks it in
 * the initial user namespace: inside another one the probe after INIT
 * finds out). */
static bool has_sys_admin(void)
{
	struct __user_cap_header_struct head = {
		.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &head, caps) != 0)
		return false;
	return caps[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &
	       CAP_TO_MASK(CAP_SYS_ADMIN);
}

/*
 * max_stack_depth: 1 lets backing files be on any ordinary filesystem and
 * keeps the mount stackable (an overlayfs over it); a host tree on a
 * stacking filesystem (overlayfs, as in most containers) needs 2, or every
 * backing ioctl fails with ELOOP.
 */
static uint32_t stack_depth_for(const struct layout *layout)
{
	struct statfs st;

	for (size_t i = 0; i < layout->n_mirrors; i++)
		if (statfs(layout->mirrors[i].host_root, &st) == 0 &&
		    (st.f_type == OVERLAYFS_SUPER_MAGIC ||
		     st.f_type == ECRYPTFS_SUPER_MAGIC))
			return FUSE_PROTO_MAX_STACK_DEPTH;
	return 1;
}

void passthrough_setup(struct canonfs_fs *fs)
{
	struct passthrough *pt = &fs->passthrough;

	pt->reads = fs->opts->passthrough_reads;
	pt->dev_fd = -1;
	pt->stack_depth = stack_depth_for(&fs->layout);
	set_state(pt, pt->reads || fs->opts->passthrough_create
			      ? PASSTHROUGH_BEFORE_INIT
			      : PASSTHROUGH_OFF_OPTION);
}

static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
	struct passthrough *pt = &((struct canonfs_fs *)userdata)->passthrough;
	ssize_t got = read(fd, buf, len);

	/* Only INIT is looked at; it comes first, and by read (libfuse
	 * splices nothing before INIT is done). */
	if (got > 0 && load_state(pt) == PASSTHROUGH_BEFORE_INIT)
		fuse_proto_parse_init(buf, (size_t)got, &pt->kernel_minor,
				      &pt->kernel_offers);
	return got;
}

static ssize_t hook_splice_receive(int fdin, off_t *offin, int fdout,
				   off_t *offout, size_t len,
				   unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

/* Whether the kernel took passthrough from the INIT reply just written:
 * it then gives a backing id for a regular file (the daemon's own
 * binary), and refuses with EPERM otherwise. */
static bool kernel_accepted(int dev_fd)
{
	int fd = open("/proc/self/exe", O_PATH | O_CLOEXEC), id;

	if (fd < 0)
		return true; /* cannot tell: the first open will */
	id = fuse_proto_backing_open(dev_fd, fd);
	close(fd);
	if (id > 0)
		fuse_proto_backing_close(dev_fd, id);
	return id != -EPERM;
}

/* The armed reply, patched in a copy of its argument (iov[1]). */
static ssize_t write_patched(int fd, struct iovec *iov, int count,
			     enum armed_kind kind, int32_t id, uint32_t depth)
{
	char arg[FUSE_PROTO_ENTRY_OUT_SIZE +
		 sizeof(struct fuse_proto_open_out)];
	struct fuse_proto_out_header out;
	struct iovec patched[2];
	size_t len;
	bool done = false;

	if (count != 2 || iov[0].iov_len != sizeof(out) ||
	    iov[1].iov_len > sizeof(arg))
		return writev(fd, iov, count);
	memcpy(&out, iov[0].iov_base, sizeof(out));
	len = iov[1].iov_len;
	memcpy(arg, iov[1].iov_base, len);
	if (out.error == 0 && kind == ARMED_INIT)
		done = fuse_proto_want_passthrough(arg, len, depth);
	else if (out.error == 0 && kind == ARMED_OPEN)
		done = len == sizeof(struct fuse_proto_open_out) &&
		       fuse_proto_open_passthrough(arg, len, 0, id);
	else if (out.error == 0 && kind == ARMED_CREATE)
		done = len == FUSE_PROTO_ENTRY_OUT_SIZE +
				       sizeof(struct fuse_proto_open_out) &&
		       fuse_proto_open_passthrough(
			       arg, len, FUSE_PROTO_ENTRY_OUT_SIZE, id);
	if (!done)
		return writev(fd, iov, count);
	patched[0] = iov[0];
	patched[1] = (struct iovec){.iov_base = arg, .iov_len = len};
	return writev(fd, patched, 2);
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct canonfs_fs *fs = userdata;
	struct passthrough *pt = &fs->passthrough;
	enum armed_kind kind = armed.kind;
	ssize_t written;

	if (kind == ARMED_NONE)
		return writev(fd, iov, count);
	armed.kind = ARMED_NONE;
	written = write_patched(fd, iov, count, kind, armed.backing_id,
				pt->stack_depth);
	/* The kernel handles the INIT reply within the write. */
	if (kind == ARMED_INIT)
		set_state(pt, written > 0 && kernel_accepted(fd)
				      ? PASSTHROUGH_ON
				      : PASSTHROUGH_OFF_REFUSED);
	return written;
}

int passthrough_attach(struct canonfs_fs *fs, struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = hook_read,
		.writev = hook_writev,
		.splice_receive = hook_splice_receive,
	};
	int rc;

	if (load_state(&fs->passthrough) == PASSTHROUGH_OFF_OPTION)
		return 0;
	/* The descriptor fuse_session_mount opened: libfuse keeps it as the
	 * session's, and closes it once, at fuse_session_destroy. */
	rc = fuse_session_custom_io(se, &io, fuse_session_fd(se));
	if (rc)
		return -rc;
	fs->passthrough.dev_fd = fuse_session_fd(se);
	fs->inodes.backing_dev_fd = fs->passthrough.dev_fd;
	return 0;
}

void passthrough_init(struct canonfs_fs *fs, struct fuse_conn_info *conn)
{
	struct passthrough *pt = &fs->passthrough;

	if (load_state(pt) != PASSTHROUGH_BEFORE_INIT)
		return;
	if (pt->dev_fd < 0 || !pt->kernel_offers) {
		set_state(pt, PASSTHROUGH_OFF_KERNEL);
		return;
	}
	if (!has_sys_admin()) {
		set_state(pt, PASSTHROUGH_OFF_NO_CAP);
		return;
	}
	/* The kernel refuses passthrough together with writeback caching;
	 * canonfs never asks for that (op_init). */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	armed.kind = ARMED_INIT;
	__atomic_store_n(&pt->init_asked, true, __ATOMIC_RELEASE);
}

bool passthrough_wants_open(const struct canonfs_fs *fs)
{
	int state = load_state(&fs->passthrough);

	return fs->passthrough.reads &&
	       (state == PASSTHROUGH_BEFORE_INIT || state == PASSTHROUGH_ON);
}

int32_t passthrough_backing(struct canonfs_fs *fs, struct inode *inode,
			    bool want)
{
	struct passthrough *pt = &fs->passthrough;
	int32_t was = __atomic_load_n(&inode->backing, __ATOMIC_ACQUIRE);
	int32_t id;

	if (was != 0)
		return was > 0 ? was : 0;
	if (!want || inode->synthetic || !S_ISREG(inode->host_type) ||
	    load_state(pt) != PASSTHROUGH_ON) {
		id = -1;
	} else {
		id = fuse_proto_backing_open(pt->dev_fd, inode->host_fd);
		/* EPERM: the kernel never took it (the probe could not
		 * tell); ELOOP: the host file is stacked deeper than
		 * max_stack_depth. Either way, through the daemon. */
		if (id == -EPERM)
			set_state(pt, PASSTHROUGH_OFF_REFUSED);
		if (id <= 0)
			id = -1;
	}
	/* Decided once: another thread may have been first. */
	if (!__atomic_compare_exchange_n(&inode->backing, &was, id, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		if (id > 0)
			fuse_proto_backing_close(pt->dev_fd, id);
		return was > 0 ? was : 0;
	}
	return id > 0 ? id : 0;
}

void passthrough_arm_reply(struct inode *inode, int32_t id, bool create,
			   bool writing)
{
	/* Before the reply: the first write's event may come before the
	 * reply's write returns. */
	if (writing)
		__atomic_store_n(&inode->passthrough_writing, true,
				 __ATOMIC_RELEASE);
	armed.kind = create ? ARMED_CREATE : ARMED_OPEN;
	armed.backing_id = id;
}

void passthrough_disarm(void)
{
	armed.kind = ARMED_NONE;
}

bool passthrough_own_event(struct inode *inode, uint32_t mask)
{
	if (!__atomic_load_n(&inode->passthrough_writing, __ATOMIC_ACQUIRE))
		return false;
	if (mask & IN_CLOSE_WRITE)
		__atomic_store_n(&inode->passthrough_writing, false,
				 __ATOMIC_RELEASE);
	return true;
}

void passthrough_forget(int dev_fd, struct inode *inode)
{
	if (inode->backing > 0 && dev_fd >= 0)
		fuse_proto_backing_close(dev_fd, inode->backing);
	inode->backing = 0;
}

/* How long the stats wait for the INIT reply's outcome. */
#define DECIDE_WAIT_MS 2000

const char *passthrough_describe(const struct canonfs_fs *fs)
{
	const struct timespec ms = {0, 1000000};

	/* Asked for and not yet decided: the hook is between the INIT
	 * reply and its check (a request may come first, on a loaded
	 * machine): the answer is due in a moment. */
	for (int i = 0;
	     i < DECIDE_WAIT_MS &&
	     __atomic_load_n(&fs->passthrough.init_asked, __ATOMIC_ACQUIRE) &&
	     load_state(&fs->passthrough) == PASSTHROUGH_BEFORE_INIT;
	     i++)
		nanosleep(&ms, NULL);
	switch ((enum passthrough_state)load_state(&fs->passthrough)) {
	case PASSTHROUGH_ON:
		return fs->passthrough.reads ? "create+read" : "create";
	case PASSTHROUGH_OFF_OPTION:
		return "off-not-asked";
	case PASSTHROUGH_OFF_KERNEL:
		return "off-kernel-lacks-it";
	case PASSTHROUGH_OFF_NO_CAP:
		return "off-no-cap-sys-admin";
	case PASSTHROUGH_OFF_REFUSED:
		return "off-refused-at-init";
	case PASSTHROUGH_BEFORE_INIT:
		break;
	}
	return "off-before-init";
}
