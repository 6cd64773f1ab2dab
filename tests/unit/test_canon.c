/* Unit tests: the canonical view of metadata (fs/canon.c). */
#include "canonfs/canon.h"
#include "check.h"

#include <string.h>

static struct stat host_stat(mode_t mode, off_t size)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = mode;
	st.st_size = size;
	st.st_nlink = 3;
	st.st_uid = 1001;
	st.st_gid = 1002;
	st.st_blocks = 123;
	st.st_mtim.tv_sec = 1600000000;
	st.st_mtim.tv_nsec = 5;
	st.st_atim = st.st_mtim;
	st.st_ctim = st.st_mtim;
	return st;
}

int main(void)
{
	struct canon_rules rules = {
		.time_mode = CANON_TIME_ZERO, .uid = 7, .gid = 8};
	struct stat host, out;

	CHECK(canon_mode(S_IFREG | 0600) == (S_IFREG | 0644));
	CHECK(canon_mode(S_IFREG | 0700) == (S_IFREG | 0755));
	CHECK(canon_mode(S_IFREG | 04755) == (S_IFREG | 0755));
	CHECK(canon_mode(S_IFREG | 0001) == (S_IFREG | 0755));
	CHECK(canon_mode(S_IFDIR | 01750) == (S_IFDIR | 0755));
	CHECK(canon_mode(S_IFLNK | 0755) == (S_IFLNK | 0777));
	CHECK(canon_is_shown(S_IFREG) && canon_is_shown(S_IFDIR) &&
	      canon_is_shown(S_IFLNK));
	CHECK(!canon_is_shown(S_IFCHR) && !canon_is_shown(S_IFBLK) &&
	      !canon_is_shown(S_IFIFO) && !canon_is_shown(S_IFSOCK));

	host = host_stat(S_IFREG | 0600, 5000);
	canon_attr(&rules, &host, 42, 0, &out);
	CHECK(out.st_ino == 42);
	CHECK(out.st_mode == (S_IFREG | 0644));
	CHECK(out.st_nlink == 1);
	CHECK(out.st_uid == 7 && out.st_gid == 8);
	CHECK(out.st_size == 5000);
	CHECK(out.st_blocks == 16);
	CHECK(out.st_mtim.tv_sec == 0 && out.st_mtim.tv_nsec == 0);
	CHECK(out.st_atim.tv_sec == 0 && out.st_ctim.tv_sec == 0);

	host = host_stat(S_IFDIR | 0700, 4096);
	canon_attr(&rules, &host, 43, 0, &out);
	CHECK(out.st_size == 0 && out.st_blocks == 0);

	host = host_stat(S_IFLNK | 0777, 30);
	canon_attr(&rules, &host, 44, 8, &out);
	CHECK(out.st_size == 8);

	rules.time_mode = CANON_TIME_FIXED;
	rules.fixed_time = 1700000000;
	canon_attr(&rules, &host, 44, 8, &out);
	CHECK(out.st_mtim.tv_sec == 1700000000 && out.st_mtim.tv_nsec == 0);
	CHECK(out.st_ctim.tv_sec == 1700000000);

	rules.time_mode = CANON_TIME_PASSTHROUGH;
	canon_attr(&rules, &host, 44, 8, &out);
	CHECK(out.st_mtim.tv_sec == 1600000000 && out.st_mtim.tv_nsec == 5);

	/* Inode numbers: a function of the path, never 0 or the root's. */
	CHECK(canon_child_ino(1, "src") == canon_child_ino(1, "src"));
	CHECK(canon_child_ino(1, "src") != canon_child_ino(1, "sys"));
	CHECK(canon_child_ino(canon_child_ino(1, "a"), "b") !=
	      canon_child_ino(canon_child_ino(1, "b"), "a"));
	CHECK(canon_child_ino(1, "src") > CANON_ROOT_INO);
	/* -o mtime=content: a pure function of the digest, in the 1990s. */
	{
		unsigned char a[32] = {0}, b[32] = {0};
		struct timespec ta, tb, ta2;

		a[0] = 0x12;
		a[5] = 0x34;
		b[0] = 0x12;
		b[5] = 0x35; /* differs only in the nanosecond bits */
		canon_content_time(a, &ta);
		canon_content_time(a, &ta2);
		canon_content_time(b, &tb);
		CHECK(ta.tv_sec == ta2.tv_sec && ta.tv_nsec == ta2.tv_nsec);
		CHECK(ta.tv_sec == tb.tv_sec && ta.tv_nsec != tb.tv_nsec);
		CHECK(ta.tv_nsec > 0 && ta.tv_nsec < 1000000000);
		memset(a, 0xff, sizeof(a));
		canon_content_time(a, &ta);
		CHECK(ta.tv_sec >= CANON_CONTENT_EPOCH &&
		      ta.tv_sec < 915148800); /* before 1999 */
		CHECK(ta.tv_nsec < 1000000000);
	}

	return check_summary("canon");
}
