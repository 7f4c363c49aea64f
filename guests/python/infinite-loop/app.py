"""A policy in Python that never answers: the host must stop it at its
deadline (epoch interruption reaches into CPython's interpreter loop) and
deny."""

import wit_world


class WitWorld(wit_world.WitWorld):
    def authorize(self, request):
        n = 0
        while True:
            n += 1
