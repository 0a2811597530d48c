"""Tests of adapters/gimp/install.sh with a temporary HOME (never the real one): where it installs
without a destination (GIMP 3's per-version user folders, Flatpak GIMP's), what it tells a
Flatpak user, and that an explicit destination is the only one used. Plain Python; run by
tests/gimp/run.sh (python3 -m unittest -v test_install)."""

import os
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTALL = os.path.join(REPO, "adapters", "gimp", "install.sh")
FLATPAK_HINT = "flatpak override --user --filesystem=xdg-run/easel org.gimp.GIMP"


class InstallTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="easel-gimp-install-")
        self.home = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_install(self, *args, env=None):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home}
        e.update(env or {})
        p = subprocess.run(["sh", INSTALL, *args], env=e, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def installed(self, plugins):
        d = os.path.join(self.home, plugins, "easel-gimp")
        return (os.access(os.path.join(d, "easel-gimp.py"), os.X_OK)
                and os.path.isfile(os.path.join(d, "easel_client", "client.py"))
                and os.path.isfile(os.path.join(d, "easel_gimp_ops.py"))
                and os.path.isfile(os.path.join(d, "help", "en", "gimp-help.xml"))
                and os.path.isfile(os.path.join(d, "help", "en", "index.html")))

    def plugin_folders(self):
        """Every easel-gimp folder under the temporary HOME, relative to it."""
        out = []
        for root, dirs, _ in os.walk(self.home):
            if "easel-gimp" in dirs:
                out.append(os.path.relpath(os.path.join(root, "easel-gimp"), self.home))
        return sorted(out)

    def test_fresh_home_gets_gimp_30_folder(self):
        out = self.run_install()
        self.assertTrue(self.installed(".config/GIMP/3.0/plug-ins"), out)
        self.assertEqual(self.plugin_folders(), [".config/GIMP/3.0/plug-ins/easel-gimp"])
        self.assertNotIn("flatpak", out)

    def test_xdg_config_home_is_followed(self):
        self.run_install(env={"XDG_CONFIG_HOME": os.path.join(self.home, "cfg")})
        self.assertEqual(self.plugin_folders(), ["cfg/GIMP/3.0/plug-ins/easel-gimp"])

    def test_existing_per_version_folders(self):
        for v in ("3.0", "3.2"):
            os.makedirs(os.path.join(self.home, ".config", "GIMP", v))
        os.makedirs(os.path.join(self.home, ".config", "GIMP", "2.10"))  # GIMP 2 runs no Python 3
        self.run_install()
        self.assertEqual(self.plugin_folders(), [".config/GIMP/3.0/plug-ins/easel-gimp",
                                                 ".config/GIMP/3.2/plug-ins/easel-gimp"])

    def test_flatpak_gimp_folder_and_hint(self):
        os.makedirs(os.path.join(self.home, ".config", "GIMP", "3.0"))
        os.makedirs(os.path.join(self.home, ".var", "app", "org.gimp.GIMP", "config", "GIMP", "3.0"))
        out = self.run_install()
        self.assertTrue(self.installed(".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins"), out)
        self.assertTrue(self.installed(".config/GIMP/3.0/plug-ins"), out)
        self.assertIn(FLATPAK_HINT, out)
        self.assertIn("cannot start easeld", out)

    def test_flatpak_not_yet_run(self):
        # Flatpak GIMP installed but never started: its 3.0 folder is made; no host GIMP folder.
        os.makedirs(os.path.join(self.home, ".var", "app", "org.gimp.GIMP"))
        out = self.run_install()
        self.assertEqual(self.plugin_folders(),
                         [".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins/easel-gimp"])
        self.assertIn(FLATPAK_HINT, out)

    def test_explicit_destination_only(self):
        os.makedirs(os.path.join(self.home, ".config", "GIMP", "3.0"))
        os.makedirs(os.path.join(self.home, ".var", "app", "org.gimp.GIMP"))
        self.run_install(os.path.join(self.home, "elsewhere"))
        self.assertEqual(self.plugin_folders(), ["elsewhere/easel-gimp"])

    def test_reinstall_replaces(self):
        self.run_install()
        stale = os.path.join(self.home, ".config/GIMP/3.0/plug-ins/easel-gimp/stale.py")
        open(stale, "w").close()
        self.run_install()
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(self.installed(".config/GIMP/3.0/plug-ins"))


if __name__ == "__main__":
    unittest.main()
