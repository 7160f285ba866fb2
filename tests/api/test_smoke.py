from tests.conftest import LiveServer


def test_healthz_and_departments(live: LiveServer) -> None:
    with live.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        names = [d["name"] for d in c.get("/api/departments").json()]
    assert names == ["Cardiology", "Dermatology", "General Practice", "Paediatrics"]
