"""The rankbook kernel as Jupyter clients drive it (run by
tests/tests/kernel_protocol.rs with JUPYTER_PATH pointing at a temporary
kernelspec): nbclient with errors allowed, Run All after a failing cell,
interrupts, inspection of Rhai's built-ins, and how values are shown."""

import time
import unittest

import nbformat
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

TIMEOUT = 60
# A cell that runs for a while (long enough for the client to queue more
# requests behind it) and then fails.
SLOW_FAILURE = "let s = 0; for i in 0..400000 { s += i; } throw \"boom\""


class KernelConformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="rankbook")

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def reply(self, msg_id):
        while True:
            msg = self.kc.get_shell_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]

    def result_text(self, msg_id):
        """The text/plain of the execute_result of a request, read from iopub."""
        text = None
        while True:
            msg = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "execute_result":
                text = msg["content"]["data"]["text/plain"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return text

    def test_a_cell_sent_right_after_an_error_reply_runs(self):
        failed = self.kc.execute('throw "boom"')
        self.assertEqual(self.reply(failed)["status"], "error")
        # nbclient with allow_errors sends the next cell as soon as the error
        # reply arrives; it is not "queued behind" the failure.
        after = self.kc.execute("40 + 2")
        self.assertEqual(self.reply(after)["status"], "ok")

    def test_requests_queued_behind_a_failing_cell_are_aborted(self):
        failed = self.kc.execute(SLOW_FAILURE)
        queued = [self.kc.execute("1"), self.kc.execute("2")]
        self.assertEqual(self.reply(failed)["status"], "error")
        self.assertEqual([self.reply(m)["status"] for m in queued], ["aborted", "aborted"])
        later = self.kc.execute("3")
        self.assertEqual(self.reply(later)["status"], "ok")

    def test_a_cell_after_an_interrupt_runs(self):
        looping = self.kc.execute("let n = 0; loop { n += 1; }")
        time.sleep(0.5)
        self.km.interrupt_kernel()
        self.assertEqual(self.reply(looping)["status"], "error")
        after = self.kc.execute("7 * 6")
        self.assertEqual(self.reply(after)["status"], "ok")

    def test_rhai_builtins_are_inspected(self):
        for name in ["print", "debug", "type_of", "is_def_var", "is_def_fn", "Fn", "eval", "len", "bm25"]:
            content = self.reply(self.kc.inspect(name, len(name)))
            self.assertTrue(content["found"], name)
            self.assertIn(name, content["data"]["text/plain"], name)
        content = self.reply(self.kc.inspect("no_such_name_here", 5))
        self.assertFalse(content["found"])

    def test_strings_show_their_literal_form(self):
        for code, shown in [('"abc"', '"abc"'), ('"4" + "2"', '"42"'), ("42", "42"),
                            ('"say \\"hi\\""', '"say \\"hi\\""')]:
            self.assertEqual(self.result_text(self.kc.execute(code)), shown, code)


class NbclientAllowErrors(unittest.TestCase):
    def test_every_cell_after_a_failing_one_runs(self):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in
                    ["let x = 1;", 'throw "the second cell fails"', "x + 1", '"done"']]
        NotebookClient(nb, kernel_name="rankbook", timeout=TIMEOUT, allow_errors=True).execute()
        outputs = [c.outputs for c in nb.cells]
        self.assertEqual(outputs[1][0]["output_type"], "error")
        self.assertEqual(outputs[2][0]["data"]["text/plain"], "2")
        self.assertEqual(outputs[3][0]["data"]["text/plain"], '"done"')
        self.assertEqual([c.execution_count for c in nb.cells], [1, 2, 3, 4])


if __name__ == "__main__":
    unittest.main(verbosity=2)
