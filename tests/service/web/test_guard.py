"""The API's token and rate bound."""

from parcelwatch.service.web.guard import RateLimit, Token


def test_a_token_is_taken_from_the_bearer_header_or_the_cookie_and_nothing_else():
    token = Token("s3cret")
    assert token.required
    assert token.allows("Bearer s3cret") and token.allows("bearer  s3cret ")
    assert token.allows(None, cookie="s3cret")
    for header in (None, "", "Bearer", "Bearer s3cre", "Basic s3cret", "s3cret", "Bearer s3cret2"):
        assert not token.allows(header), header
    assert not token.allows(None, cookie="S3CRET")
    open_ = Token(None)
    assert not open_.required and open_.allows(None)


def test_a_client_gets_its_burst_then_its_rate_and_is_told_how_long_to_wait():
    limit = RateLimit(rate=2.0, burst=3)
    assert [limit.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a", 0.0) == 0.5  # one token refills in half a second
    assert limit.take("b", 0.0) == 0.0  # another client has its own bucket
    assert limit.take("a", 0.5) == 0.0  # refilled
    assert limit.take("a", 0.5) > 0
    assert limit.take("a", 100.0) == 0.0  # refills up to the burst, no further
    assert [limit.take("a", 100.0) for _ in range(3)][-1] > 0


def test_the_buckets_kept_are_bounded_and_the_oldest_go_first():
    limit = RateLimit(rate=1.0, burst=1, clients=2)
    limit.take("a", 0.0)
    limit.take("b", 0.0)
    limit.take("c", 0.0)  # "a" is forgotten: it starts again with a full bucket
    assert limit.take("a", 0.0) == 0.0
    assert limit.take("c", 0.0) > 0
