"""rolloutd's development distribution: the sandbox cluster, the demo, the pytest kit.

Nothing here ships in the controller's wheel or image; `rolloutd` never imports it (an
import-linter contract checks that).
"""
