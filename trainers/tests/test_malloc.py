"""The worker's allocator tuning (trainers/malloc.py), checked in child processes so this one is untouched."""

import subprocess
import sys
import unittest

from .helpers import REPO_ROOT, worker_env

PROBE = "from trainers.malloc import keep_freed_memory; print(keep_freed_memory())"


def probe(**env: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, env={**worker_env(), **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@unittest.skipUnless(sys.platform.startswith("linux"), "glibc mallopt")
class KeepFreedMemoryTest(unittest.TestCase):
    def test_takes_effect_on_glibc(self):
        self.assertEqual(probe(), "True")

    def test_can_be_turned_off_and_defers_to_the_users_own_settings(self):
        self.assertEqual(probe(TRAINERS_KEEP_FREED_MEMORY="0"), "False")
        self.assertEqual(probe(MALLOC_MMAP_MAX_="65536"), "False")


if __name__ == "__main__":
    unittest.main()
