"""Interactive programs on a pty: `docker run -i -t busybox /bin/sh`."""

import pytest

pytestmark = pytest.mark.integration


def test_busybox_shell_transcript(cluster):
    transcript = cluster["core-01"].interact(
        "docker run -i -t --rm busybox /bin/sh",
        ["echo hello-from-$((40 + 2))", "cat /etc/hostname", "exit 3"], timeout=60)
    assert not transcript.timed_out
    assert transcript.exit_status == 3
    assert "hello-from-42" in transcript.text            # the shell ran it
    assert "echo hello-from-$((40 + 2))" in transcript.text   # the terminal echoed the input
    assert "/ # " in transcript.text and "\x1b" not in transcript.text and "\r" not in transcript.text


def test_interact_times_out_when_the_program_never_ends(cluster):
    transcript = cluster["core-01"].interact("echo ready; cat", ["still here"], timeout=3)
    assert transcript.timed_out and "still here" in transcript.text
    assert "cat" not in cluster["core-01"].run("ps -eo comm").stdout.split()
