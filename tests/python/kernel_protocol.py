"""jupyter_kernel_test against the installed rankbook kernel, every optional
attribute set (run by tests/tests/kernel_protocol.rs with JUPYTER_PATH pointing
at a temporary kernelspec)."""

import unittest

import jupyter_kernel_test


class RankbookKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "rankbook"
    language_name = "rhai"
    file_extension = ".rhai"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'debug("oops")'
    completion_samples = [
        {"text": "load_qre", "matches": {"load_qrels"}},
        {"text": "let abc_value = 1; abc_v", "matches": {"abc_value"}},
    ]
    complete_code_samples = ["1", "let x = 2;", "fn f(a) { a + 1 }"]
    incomplete_code_samples = ["fn f(a) {", "let s = [1, 2,", 'let t = "open']
    invalid_code_samples = ["let = ;", "}", "1 +* 2"]
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"a" + "b"', "result": '"ab"'},
    ]
    code_display_data = [
        {"code": "display(1 + 1)", "mime": "text/plain"},
    ]
    code_history_pattern = "6 *?"
    supported_history_operations = ("tail", "range", "search")
    code_inspect_sample = "bm25"
    code_page_something = 'help("bm25")'
    code_clear_output = "clear_output()"
    code_generate_error = "throw \"boom\""


if __name__ == "__main__":
    unittest.main(verbosity=2)
