import xml.etree.ElementTree as ET

from mcheck.report.junit import junit_xml


def cases(xml: str) -> list[ET.Element]:
    return ET.fromstring(xml.encode()).findall("./testsuite/testcase")


def test_one_case_per_property_named_with_clauses(violated):
    result, _ = violated
    found = cases(junit_xml(result))
    assert len(found) == len(result.properties)
    assert next(c.get("name") for c in found) == "no_dma_while_stopped [D-DP-9, D-DP-16]"
    assert {c.get("classname") for c in found} == {"counter"}
    assert "deadlock_free" in [c.get("name") for c in found]


def test_violation_is_a_failure_carrying_the_counterexample(violated):
    result, _ = violated
    root = ET.fromstring(junit_xml(result).encode())
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1
    text = failures[0].text
    assert "shortest counterexample, 3 step(s)" in text
    assert "mode[1]: running -> stopped" in text
    assert "dma_write(m=1)" in text
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "0")


def test_holding_properties_are_plain_passes(holds):
    for case in cases(junit_xml(holds)):
        assert list(case) == []


def test_bounded_properties_are_skipped_with_the_bounds(bounded):
    found = cases(junit_xml(bounded))
    skipped = [c.find("skipped") for c in found]
    assert all(s is not None for s in skipped)
    assert "max-depth 2" in skipped[0].get("message")


def test_divergence_with_no_listed_property_still_gets_a_case(divergence):
    divergence.properties = []
    found = cases(junit_xml(divergence))
    assert [c.get("name") for c in found] == ["trace_conforms [D-DP-9]"]
    assert "event 7" in found[0].find("failure").get("message")
