/*
 * mounts: the mount table (see include/canonfs/mounts.h).
 */
#include "canonfs/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* Undo the octal escapes of /proc/self/mountinfo ("\040" is a space). */
static void unescape_mount_path(char *path)
{
	char *out = path;

	for (char *in = path; *in; in++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' &&
		    in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
		    in[3] <= '7') {
			*out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 +
					(in[3] - '0'));
			in += 3;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
}

bool mounts_is_mount_point(const char *resolved)
{
	char line[3 * PATH_MAX], mount_path[PATH_MAX];
	bool found = false;
	FILE *mountinfo = fopen("/proc/self/mountinfo", "re");

	if (!mountinfo)
		return false;
	while (!found && fgets(line, sizeof(line), mountinfo)) {
		/* id parent major:minor root MOUNTPOINT ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mount_path) != 1)
			continue;
		unescape_mount_path(mount_path);
		found = strcmp(mount_path, resolved) == 0;
	}
	fclose(mountinfo);
	return found;
}

bool mounts_is_stale(const char *mountpoint)
{
	struct statfs st;

	return statfs(mountpoint, &st) == -1 && errno == ENOTCONN;
}

int mounts_unmount(const char *mountpoint, bool lazy)
{
	pid_t pid;
	int status;

	if (umount2(mountpoint, lazy ? MNT_DETACH : 0) == 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u",
		       mountpoint, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
