/*
 * fuse_proto: the few FUSE protocol bytes canonfs reads and writes itself,
 * beside libfuse 3.14, which predates kernel passthrough (protocol 7.40):
 * the INIT request's offer, the INIT reply's passthrough flag and stack
 * depth, an OPEN or CREATE reply's FOPEN_PASSTHROUGH and backing id, and
 * the /dev/fuse ioctls that register a backing file. Only passthrough.c
 * uses them, through the custom I/O hooks of the session.
 *
 * The layouts are written out here and checked at build time (fuse_proto.c)
 * against <linux/fuse.h> for every field it has, and against the numbers
 * of the kernel's include/uapi/linux/fuse.h (7.40 and later) for the rest.
 * All of it is host byte order, as the kernel writes it.
 */
#ifndef CANONFS_FUSE_PROTO_H
#define CANONFS_FUSE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUSE_PROTO_OP_INIT 26

/* INIT flags: flags2 is the upper half of the 64-bit flags, read by the
 * kernel only when FUSE_PROTO_INIT_EXT is set in flags. */
#define FUSE_PROTO_INIT_EXT (1u << 30)
#define FUSE_PROTO_PASSTHROUGH_FLAGS2 (1u << (37 - 32))
/* The first protocol minor with passthrough (Linux 6.9). */
#define FUSE_PROTO_PASSTHROUGH_MINOR 40
/* The kernel's FILESYSTEM_MAX_STACK_DEPTH: the most max_stack_depth may
 * be. */
#define FUSE_PROTO_MAX_STACK_DEPTH 2

/* fuse_open_out.open_flags */
#define FUSE_PROTO_FOPEN_DIRECT_IO (1u << 0)
#define FUSE_PROTO_FOPEN_KEEP_CACHE (1u << 1)
#define FUSE_PROTO_FOPEN_PASSTHROUGH (1u << 7)

struct fuse_proto_in_header {
	uint32_t len;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid;
	uint32_t gid;
	uint32_t pid;
	uint16_t total_extlen;
	uint16_t padding;
};

struct fuse_proto_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct fuse_proto_init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint32_t flags2; /* with FUSE_PROTO_INIT_EXT in flags */
	uint32_t unused[11];
};

struct fuse_proto_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth; /* 7.40; unused[0] before */
	uint32_t unused[6];
};

struct fuse_proto_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id; /* 7.40, with FOPEN_PASSTHROUGH; padding before */
};

/* struct fuse_entry_out, which a CREATE reply puts before its open_out. */
#define FUSE_PROTO_ENTRY_OUT_SIZE 128

struct fuse_proto_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

/* What the kernel offers in an INIT request (buf: the whole request as
 * read from /dev/fuse). Returns false when buf is not one. */
bool fuse_proto_parse_init(const void *buf, size_t len, uint32_t *minor,
			   bool *offers_passthrough);

/* Ask for passthrough in an INIT reply's argument (arg, len: the bytes
 * after the out header), with max_stack_depth `depth`. Returns false, and
 * leaves it as it is, when it is not a full 7.23+ reply with the extended
 * flags. */
bool fuse_proto_want_passthrough(void *arg, size_t len, uint32_t depth);

/* Make the open_out at arg + offset (len: the argument's size) a
 * passthrough open to backing file `id`. Cache flags are cleared: the
 * kernel refuses FOPEN_KEEP_CACHE with passthrough (the open fails with
 * EIO). Returns false when the argument is too short. */
bool fuse_proto_open_passthrough(void *arg, size_t len, size_t offset,
				 int32_t id);

/* FUSE_DEV_IOC_BACKING_OPEN on the /dev/fuse descriptor dev_fd for the
 * host file behind fd (an O_PATH descriptor will do): the backing id
 * (> 0), or -errno. Needs CAP_SYS_ADMIN in the initial user namespace and
 * a kernel that accepted passthrough at INIT (EPERM otherwise). */
int fuse_proto_backing_open(int dev_fd, int fd);
/* FUSE_DEV_IOC_BACKING_CLOSE: the id is given back; open files that use
 * it keep their own reference. Returns 0 or -errno. */
int fuse_proto_backing_close(int dev_fd, int32_t id);

#endif
