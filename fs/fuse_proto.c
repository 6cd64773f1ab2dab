/*
 * fuse_proto: hand-written FUSE protocol bytes (see
 * include/canonfs/fuse_proto.h), checked at build time against the
 * kernel's header.
 */
#include "canonfs/fuse_proto.h"

#include <errno.h>
#include <linux/fuse.h>
#include <string.h>
#include <sys/ioctl.h>

/* Every field <linux/fuse.h> has: at its place, of its size. */
#define SAME_FIELD(ours, theirs, field)                                        \
	_Static_assert(offsetof(struct ours, field) ==                         \
				       offsetof(struct theirs, field) &&       \
			       sizeof(((struct ours *)0)->field) ==            \
				       sizeof(((struct theirs *)0)->field),    \
		       #ours "." #field " differs from the kernel's")
#define SAME_SIZE(ours, theirs)                                                \
	_Static_assert(sizeof(struct ours) == sizeof(struct theirs),           \
		       #ours " differs in size from the kernel's")

SAME_SIZE(fuse_proto_in_header, fuse_in_header);
SAME_FIELD(fuse_proto_in_header, fuse_in_header, len);
SAME_FIELD(fuse_proto_in_header, fuse_in_header, opcode);
SAME_FIELD(fuse_proto_in_header, fuse_in_header, unique);

SAME_SIZE(fuse_proto_out_header, fuse_out_header);
SAME_FIELD(fuse_proto_out_header, fuse_out_header, len);
SAME_FIELD(fuse_proto_out_header, fuse_out_header, error);
SAME_FIELD(fuse_proto_out_header, fuse_out_header, unique);

SAME_SIZE(fuse_proto_init_in, fuse_init_in);
SAME_FIELD(fuse_proto_init_in, fuse_init_in, major);
SAME_FIELD(fuse_proto_init_in, fuse_init_in, minor);
SAME_FIELD(fuse_proto_init_in, fuse_init_in, flags);
SAME_FIELD(fuse_proto_init_in, fuse_init_in, flags2);

SAME_SIZE(fuse_proto_init_out, fuse_init_out);
SAME_FIELD(fuse_proto_init_out, fuse_init_out, flags);
SAME_FIELD(fuse_proto_init_out, fuse_init_out, max_write);
SAME_FIELD(fuse_proto_init_out, fuse_init_out, time_gran);
SAME_FIELD(fuse_proto_init_out, fuse_init_out, flags2);

SAME_SIZE(fuse_proto_open_out, fuse_open_out);
SAME_FIELD(fuse_proto_open_out, fuse_open_out, fh);
SAME_FIELD(fuse_proto_open_out, fuse_open_out, open_flags);

_Static_assert(FUSE_PROTO_ENTRY_OUT_SIZE == sizeof(struct fuse_entry_out),
	       "fuse_entry_out differs in size from the kernel's");
_Static_assert(FUSE_PROTO_OP_INIT == FUSE_INIT, "FUSE_INIT");
_Static_assert(FUSE_PROTO_INIT_EXT == FUSE_INIT_EXT, "FUSE_INIT_EXT");
_Static_assert(FUSE_PROTO_FOPEN_DIRECT_IO == FOPEN_DIRECT_IO &&
		       FUSE_PROTO_FOPEN_KEEP_CACHE == FOPEN_KEEP_CACHE,
	       "FOPEN_ flags");

#if FUSE_KERNEL_MINOR_VERSION >= FUSE_PROTO_PASSTHROUGH_MINOR
/* A header new enough names the passthrough fields itself. */
SAME_FIELD(fuse_proto_init_out, fuse_init_out, max_stack_depth);
SAME_FIELD(fuse_proto_open_out, fuse_open_out, backing_id);
SAME_SIZE(fuse_proto_backing_map, fuse_backing_map);
_Static_assert(FUSE_PROTO_FOPEN_PASSTHROUGH == FOPEN_PASSTHROUGH,
	       "FOPEN_PASSTHROUGH");
_Static_assert(FUSE_PROTO_PASSTHROUGH_FLAGS2 ==
		       (uint32_t)(FUSE_PASSTHROUGH >> 32),
	       "FUSE_PASSTHROUGH");
#define FUSE_PROTO_IOC_BACKING_OPEN FUSE_DEV_IOC_BACKING_OPEN
#define FUSE_PROTO_IOC_BACKING_CLOSE FUSE_DEV_IOC_BACKING_CLOSE
#else
/* An older one (7.38 in Debian 12's linux-libc-dev): the 7.40 fields took
 * the place of padding it still names. Numbers from Linux 6.9's
 * include/uapi/linux/fuse.h. */
_Static_assert(offsetof(struct fuse_proto_init_out, max_stack_depth) ==
			       offsetof(struct fuse_init_out, unused) &&
		       offsetof(struct fuse_proto_init_out, max_stack_depth) ==
			       36,
	       "max_stack_depth: the first word after flags2");
_Static_assert(offsetof(struct fuse_proto_open_out, backing_id) ==
			       offsetof(struct fuse_open_out, padding) &&
		       offsetof(struct fuse_proto_open_out, backing_id) == 12,
	       "backing_id: fuse_open_out's former padding");
_Static_assert(sizeof(struct fuse_proto_backing_map) == 16 &&
		       offsetof(struct fuse_proto_backing_map, flags) == 4 &&
		       offsetof(struct fuse_proto_backing_map, padding) == 8,
	       "fuse_backing_map");
#define FUSE_PROTO_IOC_BACKING_OPEN                                            \
	_IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_proto_backing_map)
#define FUSE_PROTO_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
_Static_assert(FUSE_PROTO_IOC_BACKING_OPEN == 0x4010e501u,
	       "FUSE_DEV_IOC_BACKING_OPEN");
_Static_assert(FUSE_PROTO_IOC_BACKING_CLOSE == 0x4004e502u,
	       "FUSE_DEV_IOC_BACKING_CLOSE");
#endif

bool fuse_proto_parse_init(const void *buf, size_t len, uint32_t *minor,
			   bool *offers_passthrough)
{
	struct fuse_proto_in_header in;
	struct fuse_proto_init_in init = {0};
	size_t arg_len;

	if (len < sizeof(in))
		return false;
	memcpy(&in, buf, sizeof(in));
	if (in.opcode != FUSE_PROTO_OP_INIT || in.len > len)
		return false;
	/* Kernels before 7.36 send a shorter request: the rest is zero. */
	arg_len = in.len - sizeof(in);
	memcpy(&init, (const char *)buf + sizeof(in),
	       arg_len < sizeof(init) ? arg_len : sizeof(init));
	*minor = init.major == 7 ? init.minor : 0;
	*offers_passthrough = init.major == 7 &&
			      init.minor >= FUSE_PROTO_PASSTHROUGH_MINOR &&
			      (init.flags & FUSE_PROTO_INIT_EXT) &&
			      (init.flags2 & FUSE_PROTO_PASSTHROUGH_FLAGS2);
	return true;
}

bool fuse_proto_want_passthrough(void *arg, size_t len, uint32_t depth)
{
	struct fuse_proto_init_out out;

	if (len != sizeof(out))
		return false;
	memcpy(&out, arg, sizeof(out));
	if (!(out.flags & FUSE_PROTO_INIT_EXT))
		return false;
	out.flags2 |= FUSE_PROTO_PASSTHROUGH_FLAGS2;
	out.max_stack_depth = depth;
	memcpy(arg, &out, sizeof(out));
	return true;
}

bool fuse_proto_open_passthrough(void *arg, size_t len, size_t offset,
				 int32_t id)
{
	struct fuse_proto_open_out out;

	if (len < offset + sizeof(out))
		return false;
	memcpy(&out, (char *)arg + offset, sizeof(out));
	out.open_flags &=
		~(FUSE_PROTO_FOPEN_KEEP_CACHE | FUSE_PROTO_FOPEN_DIRECT_IO);
	out.open_flags |= FUSE_PROTO_FOPEN_PASSTHROUGH;
	out.backing_id = id;
	memcpy((char *)arg + offset, &out, sizeof(out));
	return true;
}

int fuse_proto_backing_open(int dev_fd, int fd)
{
	struct fuse_proto_backing_map map = {.fd = fd};
	int id = ioctl(dev_fd, FUSE_PROTO_IOC_BACKING_OPEN, &map);

	return id < 0 ? -errno : id;
}

int fuse_proto_backing_close(int dev_fd, int32_t id)
{
	uint32_t arg = (uint32_t)id;

	return ioctl(dev_fd, FUSE_PROTO_IOC_BACKING_CLOSE, &arg) < 0 ? -errno
								     : 0;
}
