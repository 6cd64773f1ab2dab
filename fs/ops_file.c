/*
 * ops_file: file I/O (see include/canonfs/ops_internal.h): OPEN, CREATE,
 * READ, WRITE, FALLOCATE, LSEEK, FLUSH, RELEASE and FSYNC. The
 * descriptors they go through are iofd.c's.
 */
#include "canonfs/ops_internal.h"

#include "canonfs/control.h"
#include "canonfs/invalidate.h"
#include "canonfs/own.h"
#include "canonfs/passthrough.h"
#include "canonfs/path.h"
#include "canonfs/stats.h"
#include "canonfs/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* A stat taken just before a write can predate another write of ours that
 * finishes first; own_write_before then asks for a fresh one. */
#define OWN_WRITE_STAT_TRIES 4

/* Before a write or truncate of ours through fd (own.h; an O_PATH
 * descriptor will do): true when it is recorded, and ops_own_write_end is then
 * due. The stat it took goes to *host. */
bool ops_own_write_begin(struct canonfs_fs *fs, struct inode *inode, int fd,
			 struct stat *host)
{
	for (int tries = 1;; tries++) {
		if (fstat(fd, host) == -1)
			return false;
		if (own_write_before(&fs->own, &inode->own_write, host,
				     tries == OWN_WRITE_STAT_TRIES))
			return true;
	}
}

void ops_own_write_end(struct canonfs_fs *fs, struct inode *inode, int fd)
{
	struct stat host;

	own_write_after(&fs->own, &inode->own_write,
			fstat(fd, &host) == 0 ? &host : NULL);
}

static int open_flags_allowed(struct canonfs_fs *fs, const struct inode *inode,
			      int flags)
{
	if ((fs->opts->read_only ||
	     (!inode->synthetic &&
	      fs->layout.mirrors[inode->key.mirror].read_only)) &&
	    ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return EROFS;
	return 0;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_OPEN);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	int err, fd;
	int32_t backing;

	if (fs->no_open) {
		/* The kernel takes this as "never send OPEN again". */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((err = open_flags_allowed(fs, inode, fi->flags))) {
		fuse_reply_err(req, err);
		return;
	}
	if (inode->synthetic) {
		fi->fh = 0;
		fi->direct_io = 1; /* contents live in the inode */
		fuse_reply_open(req, fi);
		return;
	}
	backing = passthrough_backing(
		fs, inode, fs->passthrough.reads && !trace_active(&fs->trace));
	/* A passthrough open needs no descriptor of ours: the kernel opens
	 * the host file itself. Unless the host's permission checks must
	 * be made, or a trace hashes what is read. */
	fi->fh = 0;
	if (!backing || fs->host_checks || trace_active(&fs->trace)) {
		/* O_NOFOLLOW would refuse the magic link itself. */
		fd = iofd_open_checked(
			fs, inode,
			(fi->flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) |
				O_CLOEXEC);
		if (fd == -1) {
			fuse_reply_err(req, errno);
			return;
		}
		fi->fh = (uint64_t)fd;
	}
	if (backing) {
		/* The kernel reads through it, never asking: a trace
		 * started since the inode went passthrough records the
		 * file as read at its open. */
		if ((fi->flags & O_ACCMODE) != O_WRONLY && fi->fh)
			trace_first_read(fs, inode, (int)fi->fh);
		passthrough_arm_reply(inode, backing, false,
				      (fi->flags & O_ACCMODE) != O_RDONLY);
		stats_add(&fs->stats, STAT_PASSTHROUGH_OPEN);
	} else {
		/* Keep pages across opens only where host edits invalidate
		 * them. */
		fi->keep_cache = inode->parent_watched;
	}
	fuse_reply_open(req, fi);
	passthrough_disarm();
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_CREATE);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent), *inode;
	struct fuse_entry_param e;
	int err, fd = -1;
	int32_t backing;

	err = ops_check_writable(req, dir);
	if (!err && !path_is_name(name))
		err = EINVAL;
	if (!err) {
		/* O_EXCL first, to know whether this created the file: only
		 * a creation causes an event to skip. */
		for (int tries = 0; tries < 3; tries++) {
			ops_expect_own(fs, dir, name, IN_CREATE);
			fd = openat(dir->host_fd, name,
				    fi->flags | O_CREAT | O_EXCL | O_NOFOLLOW |
					    O_CLOEXEC,
				    mode);
			if (fd >= 0)
				break;
			ops_cancel_own(fs, dir, name, IN_CREATE);
			if (errno != EEXIST || (fi->flags & O_EXCL))
				break;
			fd = openat(dir->host_fd, name,
				    (fi->flags & ~O_CREAT) | O_NOFOLLOW |
					    O_CLOEXEC);
			/* Deleted in between: create it after all. */
			if (fd >= 0 || errno != ENOENT)
				break;
		}
		if (fd == -1)
			err = errno;
	}
	if (!err)
		err = ops_do_lookup(fs, dir, name, &e);
	if (err) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, err);
		return;
	}
	inode = inode_from_nodeid(&fs->inodes, e.ino);
	if (fs->no_open) {
		/* Once OPEN is answered ENOSYS the kernel sends no RELEASE,
		 * not even for files it got from CREATE: no handle then. */
		iofd_keep_as_write_fd(fs, inode, fd, fi->flags);
		fi->fh = 0;
	} else {
		fi->fh = (uint64_t)fd;
	}
	/* Written by the kernel straight to the host, unless a trace needs
	 * to see each write (passthrough.h). */
	backing = passthrough_backing(fs, inode, !trace_active(&fs->trace));
	if (backing) {
		passthrough_arm_reply(inode, backing, true,
				      (fi->flags & O_ACCMODE) != O_RDONLY);
		stats_add(&fs->stats, STAT_PASSTHROUGH_OPEN);
	} else {
		fi->keep_cache = dir->watched;
	}
	trace_made(fs, inode);
	trace_change(fs, dir, name, "created");
	fuse_reply_create(req, &e, fi);
	passthrough_disarm();
}

/*
 * Whether a read that got `got` of `size` bytes must fail because the host
 * file shrank under the kernel's idea of its size. The kernel asks only for
 * pages that begin before the end it knows, so a requested page wholly past
 * the data shows that end is stale. A short reply makes the kernel zero the
 * rest of its pages and take the end of the data as the new size, unless
 * the file's attributes changed while the read was out (the invalidation of
 * that very shrink, a concurrent stat): then the zeros stay cached under
 * the old size and are read as contents. So:
 *  - a read of several pages with one wholly past the data fails; the
 *    kernel then reads the reader's page alone (the same read repeated by
 *    the same thread is let through, so that a kernel whose retry is no
 *    smaller never gets stuck on errors);
 *  - a one-page read that ends short is let through: at the end of the
 *    file that is the usual last page;
 *  - a one-page read that begins past the end fails: its reader is past
 *    the new end, and gets EIO until the file is stat'ed again (a host
 *    read would see the end there).
 */
static bool read_outran_host(struct inode *inode, pid_t reader,
			     const struct stat *host, off_t off, size_t size,
			     size_t got, int flags)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);

	/* O_DIRECT reads bypass the pages: a short one is the truth. */
	if ((flags & O_DIRECT) || got >= size)
		return false;
	if (size <= page)
		return got == 0 && host->st_size < off;
	if (got > size - page)
		return false;
	/* Racy on purpose: a torn pair only lets one read through. */
	if (__atomic_load_n(&inode->outran_reader, __ATOMIC_RELAXED) ==
		    reader &&
	    __atomic_load_n(&inode->outran_off, __ATOMIC_RELAXED) == off)
		return false;
	__atomic_store_n(&inode->outran_reader, reader, __ATOMIC_RELAXED);
	__atomic_store_n(&inode->outran_off, (int64_t)off, __ATOMIC_RELAXED);
	return true;
}

/* Up to size bytes at off, short only at the end of the file: the count,
 * or -errno. end: where the file ended when stat'ed just before; reaching
 * it ends the read without one more pread to find nothing (the caller's
 * stat after the read catches a file that grew). */
static ssize_t pread_full(int fd, char *buf, size_t size, off_t off, off_t end)
{
	size_t done = 0;

	while (done < size && off + (off_t)done < end) {
		ssize_t n =
			pread(fd, buf + done, size - done, off + (off_t)done);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static bool host_unchanged(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* How many times a read overlapped by host changes is tried again. */
#define READ_TRIES 4

/*
 * pread_full, of bytes that one version of the host file held: `after` is
 * the host's stat once they were read. A host truncate landing during a
 * pread zeroes in place the part of the page cache past the new end before
 * dropping it (ext4 does so a whole large folio at a time), so the
 * copy can bring back zeros in the middle of data; a write landing during
 * it mixes versions. So the read counts only if the host's size and ctime
 * were the same before and after it, and is tried again otherwise. If the
 * host never holds still, what lies past its latest end is dropped: that is
 * where a truncate's zeros land.
 */
static ssize_t pread_settled(int fd, char *buf, size_t size, off_t off,
			     struct stat *after)
{
	struct stat before;
	ssize_t got = 0;

	if (fstat(fd, &before) < 0)
		return -errno;
	for (int try = 0; try < READ_TRIES; try++) {
		got = pread_full(fd, buf, size, off, before.st_size);
		if (got < 0)
			return got;
		if (fstat(fd, after) < 0)
			return -errno;
		if (host_unchanged(&before, after))
			return got;
		before = *after;
	}
	if (after->st_size <= off)
		return 0;
	if (off + got > after->st_size)
		got = (ssize_t)(after->st_size - off);
	return got;
}

/*
 * The kernel fills what a short read did not return with zeros up to the
 * end of the page, and keeps the page: the mount asks for explicit data
 * invalidation, which the watcher sends for every host change. A host file
 * that grows past those zeros makes them stale, and a stat that shows the
 * new size before the watcher's invalidation has come would let a reader
 * take them for data. So where they begin is kept (the least of every
 * short read's end), and an attribute reply that shows the file larger
 * first drops that page and what follows.
 */
static void zero_fill_note(struct inode *inode, int64_t from)
{
	uint64_t was = __atomic_load_n(&inode->zero_fill, __ATOMIC_RELAXED);

	/* A new count even where the least offset stays: a reset made from
	 * the value before (the watcher's) must fail, these zeros are new. */
	while (!__atomic_compare_exchange_n(
		&inode->zero_fill, &was,
		zero_fill_next(was, from < (int64_t)zero_fill_at(was)
					    ? from
					    : (int64_t)zero_fill_at(was)),
		false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
}

/* A write of ours through the kernel's pages wrote over its zeros up to
 * `end`, and any hole it left is zeros on the host too; a truncate of ours
 * leaves the kernel's zeros at its new end. */
void ops_zero_fill_moved(struct inode *inode, int64_t end, bool truncated)
{
	uint64_t was = __atomic_load_n(&inode->zero_fill, __ATOMIC_RELAXED);

	for (;;) {
		uint64_t at = zero_fill_at(was);

		if (!truncated && (at == ZERO_FILL_NONE || (uint64_t)end <= at))
			return;
		if (__atomic_compare_exchange_n(
			    &inode->zero_fill, &was, zero_fill_next(was, end),
			    false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return;
	}
}

void ops_zero_fill_forget(struct canonfs_fs *fs, struct inode *inode,
			  off_t shown_size)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t was = __atomic_load_n(&inode->zero_fill, __ATOMIC_ACQUIRE);

	if (!fs->explicit_inval || !fs->inv)
		return;
	while (zero_fill_at(was) < (uint64_t)shown_size) {
		uint64_t from = zero_fill_at(was);

		if (__atomic_compare_exchange_n(
			    &inode->zero_fill, &was, zero_fill_none(was), false,
			    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			/* Sent before the reply: the kernel must not know the
			 * larger size while the page is there. */
			fuse_lowlevel_notify_inval_inode(
				fs->inv->se, inode_nodeid(&fs->inodes, inode),
				(off_t)(from - from % page), 0);
			stats_add(&fs->stats, STAT_ZERO_FILL_DROPPED);
			return;
		}
	}
}

/* How many times a short read is made again while the host file grows
 * past it (a log being appended to). */
#define READ_GROWTH_TRIES 16

/*
 * pread_settled, and for a short read the note of where the kernel's zeros
 * will begin (zero_fill_note), made before the reply. An attribute reply
 * that stat'ed the host before the note could not see it, and may show a
 * larger size: so after the note the host is stat'ed again, and if it has
 * grown past the data the read is made again. *outgrown: it still had
 * when the tries ran out.
 */
static ssize_t read_for_reply(struct inode *inode, int fd, char *buf,
			      size_t size, off_t off, int flags,
			      struct stat *host, bool *outgrown)
{
	struct stat now;
	ssize_t got = 0;

	*outgrown = false;
	for (int try = 0; try < READ_GROWTH_TRIES; try++) {
		got = pread_settled(fd, buf, size, off, host);
		/* O_DIRECT reads bypass the pages: no zeros are kept. */
		if (got < 0 || (size_t)got == size || (flags & O_DIRECT))
			return got;
		zero_fill_note(inode, off + got);
		if (fstat(fd, &now) == -1 || now.st_size <= off + got)
			return got;
	}
	*outgrown = true;
	return got;
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_READ);
	struct inode *inode = inode_of(req, ino);
	bool outgrown = false;
	struct stat host;
	ssize_t got;
	char *data;
	int fd, temp_fd, err;

	if (inode->synthetic) {
		/* A copy: once the reply is written, the reader may close and
		 * the kernel forget the inode (its FORGET freeing the data)
		 * while this thread is still in the write. */
		size_t len;

		err = control_read(fs_of(req), inode, off, size, &data, &len);
		if (err)
			fuse_reply_err(req, err);
		else
			fuse_reply_buf(req, data, len);
		free(data);
		return;
	}
	if ((err = iofd_get(fs_of(req), fi, inode, false, &fd, &temp_fd))) {
		fuse_reply_err(req, err);
		return;
	}
	/*
	 * Copied, not spliced: a splice passes the host's pages by reference,
	 * and a host truncate zeroes their tails in place before the kernel
	 * copies them, so a read could bring back zeros as data.
	 */
	data = malloc(size ? size : 1);
	got = data ? read_for_reply(inode, fd, data, size, off, fi->flags,
				    &host, &outgrown)
		   : -ENOMEM;
	if (got >= 0 && read_outran_host(inode, fuse_req_ctx(req)->pid, &host,
					 off, size, (size_t)got, fi->flags)) {
		stats_add(&fs_of(req)->stats, STAT_READ_OUTRAN);
		got = -EIO;
	}
	if (got >= 0)
		trace_first_read(fs_of(req), inode, fd);
	if (temp_fd >= 0)
		close(temp_fd);
	/* The host kept growing past the data: an attribute reply may show
	 * more than this reply holds. Nothing can be done about the page it
	 * fills (locked until the reply; after it, the inode may be gone). */
	if (got >= 0 && outgrown)
		stats_add(&fs_of(req)->stats, STAT_READ_OUTGROWN);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, data, (size_t)got);
	free(data);
}

/* Append the request's bytes at the host file's end, atomically as
 * O_APPEND does (the shared write descriptor has no O_APPEND: pwrite
 * would ignore the offset with it). Returns the count or -errno. */
static ssize_t append_to_host(int fd, struct fuse_bufvec *in)
{
	size_t size = fuse_buf_size(in);
	struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
	struct iovec iov;
	struct stat host;
	ssize_t got;

	if (!(mem.buf[0].mem = malloc(size ? size : 1)))
		return -ENOMEM;
	got = fuse_buf_copy(&mem, in, 0);
	if (got >= 0) {
		iov = (struct iovec){.iov_base = mem.buf[0].mem,
				     .iov_len = (size_t)got};
		got = pwritev2(fd, &iov, 1, 0, RWF_APPEND);
		/* Kernels before 4.16 lack RWF_APPEND: the end as of now. */
		if (got == -1 && errno == EOPNOTSUPP)
			got = fstat(fd, &host) == 0
				      ? pwrite(fd, iov.iov_base, iov.iov_len,
					       host.st_size)
				      : -1;
		if (got == -1)
			got = -errno;
	}
	free(mem.buf[0].mem);
	return got;
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		  off_t off, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_WRITE);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	bool append = (fi->flags & O_APPEND) && !fi->writepage;
	struct stat host;
	ssize_t written;
	bool recorded;
	int fd, temp_fd, err;

	err = iofd_get_writable(req, fi, inode, &fd, &temp_fd);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	/* Tell our IN_MODIFY from the host's (own.h): the kernel's pages
	 * already hold these bytes and must not be dropped for them.
	 * Except after a host append: an O_APPEND write comes at the end the
	 * kernel knows, which a host append it has not stat'ed since may have
	 * moved, and written there it would overwrite the host's bytes. It
	 * goes to the host's end (the stat just taken); when that is
	 * elsewhere, the kernel's size and pages are wrong, and the write's
	 * IN_MODIFY must drop them. */
	recorded = ops_own_write_begin(fs, inode, fd, &host);
	if (append && recorded && host.st_size != off)
		own_write_foreign(&fs->own, &inode->own_write);
	written = append ? append_to_host(fd, in) : fuse_buf_copy(&out, in, 0);
	if (recorded)
		ops_own_write_end(fs, inode, fd);
	/* An append's place is the host's; its zeros stay marked. */
	if (written > 0 && !append)
		ops_zero_fill_moved(inode, off + written, false);
	if (written >= 0 && trace_active(&fs->trace)) {
		uint64_t mark = trace_mark(&fs->trace);

		inode->made_traced = mark;
		if (inode->write_traced != mark) {
			inode->write_traced = mark;
			trace_change(fs, inode, NULL, "written");
		}
	}
	if (temp_fd >= 0)
		close(temp_fd);
	if (written < 0)
		fuse_reply_err(req, (int)-written);
	else
		fuse_reply_write(req, (size_t)written);
}

/* posix_fallocate, and what the kernel passes on: keep size, punch a
 * hole, zero a range. A change of the file like a write (own.h); the
 * kernel drops the pages of a punched or zeroed range itself. */
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		  off_t len, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FALLOCATE);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct stat host;
	int fd, temp_fd, err;
	bool recorded;

	err = iofd_get_writable(req, fi, inode, &fd, &temp_fd);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	recorded = ops_own_write_begin(fs, inode, fd, &host);
	if (fallocate(fd, mode, off, len) == -1)
		err = errno;
	if (recorded)
		ops_own_write_end(fs, inode, fd);
	if (temp_fd >= 0)
		close(temp_fd);
	fuse_reply_err(req, err);
}

/* SEEK_DATA and SEEK_HOLE, so that cp and tar keep sparse files sparse
 * (the kernel answers the other kinds itself). */
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_LSEEK);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	int fd, temp_fd, err;
	off_t found = -1;

	if (inode->synthetic) { /* a control file: all data */
		off_t size = control_size(fs, inode);

		if (off >= size)
			fuse_reply_err(req, ENXIO);
		else
			fuse_reply_lseek(req, whence == SEEK_DATA ? off : size);
		return;
	}
	if ((err = iofd_get(fs, fi, inode, false, &fd, &temp_fd))) {
		fuse_reply_err(req, err);
		return;
	}
	/* The shared descriptor's own offset is never used (pread). */
	if ((found = lseek(fd, off, whence)) == -1)
		err = errno;
	if (temp_fd >= 0)
		close(temp_fd);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, found);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FLUSH);
	(void)ino;
	(void)fi;
	/* Nothing to do at close: ENOSYS stops the kernel sending FLUSH. */
	fuse_reply_err(req, ENOSYS);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_RELEASE);
	(void)ino;
	if (fi->fh)
		close((int)fi->fh);
	fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FSYNC);
	struct inode *inode = inode_of(req, ino);
	int fd, temp_fd, err;

	if (inode->synthetic) {
		fuse_reply_err(req, 0);
		return;
	}
	err = iofd_get(fs_of(req), fi, inode, false, &fd, &temp_fd);
	if (!err && (datasync ? fdatasync(fd) : fsync(fd)) == -1)
		err = errno;
	if (!err && temp_fd >= 0)
		close(temp_fd);
	else if (temp_fd >= 0)
		close(temp_fd);
	fuse_reply_err(req, err);
}
