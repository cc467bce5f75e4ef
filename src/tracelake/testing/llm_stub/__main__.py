"""Serve the LLM stub until interrupted: `python -m tracelake.testing.llm_stub --port 8765`."""

from __future__ import annotations

import argparse
import threading

from tracelake.testing.llm_stub import LLMStub


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted: `python -m tracelake.testing.llm_stub --port 8765`."""
    parser = argparse.ArgumentParser(
        prog="python -m tracelake.testing.llm_stub", description="A deterministic OpenAI-compatible HTTP server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    args = parser.parse_args(argv)
    stub = LLMStub(args.host, args.port).start()
    print(f"LLM stub serving at {stub.base_url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
