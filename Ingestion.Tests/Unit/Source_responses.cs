using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Ingestion.Platform.Sources;
using Ingestion.Workers.Syncs;

namespace Ingestion.Tests.Unit;

/// <summary>What a sync reads from an upstream's answers: rate-limit headers of each convention, JSON paths, next pages.</summary>
public sealed class Source_responses
{
    private static readonly DateTimeOffset Now = new(2026, 1, 10, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void Should_read_a_relative_x_ratelimit_reset_as_seconds_from_now()
    {
        var signal = Read(("X-RateLimit-Limit", "10"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "42"));

        Assert.That((signal.Limit, signal.Remaining, signal.ResetAt), Is.EqualTo(((int?)10, (int?)0, (DateTimeOffset?)Now.AddSeconds(42))));
        Assert.That(signal.BlockedUntil, Is.EqualTo(Now.AddSeconds(42)), "a spent budget blocks until the reset");
    }

    [Test]
    public void Should_read_an_epoch_x_ratelimit_reset_as_a_point_in_time_in_seconds_or_milliseconds()
    {
        var reset = Now.AddMinutes(3);

        Assert.That(Read(("X-RateLimit-Reset", reset.ToUnixTimeSeconds().ToString())).ResetAt, Is.EqualTo(reset));
        Assert.That(Read(("X-RateLimit-Reset", reset.ToUnixTimeMilliseconds().ToString())).ResetAt, Is.EqualTo(reset));
    }

    [Test]
    public void Should_read_the_ietf_fields_in_both_drafts()
    {
        var structured = Read(("RateLimit-Policy", "\"60s0\";q=10;w=60"), ("RateLimit", "\"60s0\";r=0;t=17"));
        var older = Read(("RateLimit-Policy", "10;w=60"), ("RateLimit", "limit=10, remaining=3, reset=5"));

        Assert.That((structured.Limit, structured.WindowSeconds, structured.Remaining, structured.ResetAt),
            Is.EqualTo(((int?)10, (int?)60, (int?)0, (DateTimeOffset?)Now.AddSeconds(17))));
        Assert.That((older.Limit, older.WindowSeconds, older.Remaining, older.ResetAt),
            Is.EqualTo(((int?)10, (int?)60, (int?)3, (DateTimeOffset?)Now.AddSeconds(5))));
        Assert.That(older.BlockedUntil, Is.Null, "requests remain");
    }

    [Test]
    public void Should_let_retry_after_win_in_seconds_or_as_an_http_date()
    {
        var date = Now.AddSeconds(90);

        Assert.That(Read(("Retry-After", "7"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "60")).BlockedUntil, Is.EqualTo(Now.AddSeconds(7)));
        Assert.That(Read(("Retry-After", date.ToString("r"))).BlockedUntil, Is.EqualTo(date));
    }

    [Test]
    public void Should_learn_a_limit_only_when_it_is_tighter_than_the_declared_one()
    {
        RateLimitPolicy[] declared = [new(10, 60)];

        Assert.That(RateBudget.Learned(declared, new RateSignal(4, 3, null, null, null)), Is.EqualTo(new RateLimitPolicy(4, 60)));
        Assert.That(RateBudget.Learned(declared, new RateSignal(10, 3, null, null, null)), Is.Null);
        Assert.That(RateBudget.Learned(declared, new RateSignal(100, 3, null, 3600, null)), Is.EqualTo(new RateLimitPolicy(100, 3600)),
            "a policy of another window is one more to keep");
    }

    [Test]
    public void Should_find_the_next_link_of_a_link_header()
    {
        Assert.That(LinkHeader.Next("<https://api.example.com/e?page=1>; rel=\"prev\", <https://api.example.com/e?page=3>; rel=\"next\""),
            Is.EqualTo("https://api.example.com/e?page=3"));
        Assert.That(LinkHeader.Next("<https://api.example.com/e?page=1>; rel=\"first\""), Is.Null);
    }

    [Test]
    public void Should_refuse_a_next_link_to_another_host_so_the_credential_stays_home()
    {
        var requests = new PageRequests(Source(new SourcePagination(PaginationStyle.NextLink, NextLinkPath: "$.next")), "s3cret");

        var refusal = Assert.Throws<SyncException>(() => requests.Build(new PagePosition("https://evil.example.net/steal", null, null)));
        Assert.That(refusal!.Code, Is.EqualTo("next_link_refused"));
    }

    [Test]
    public void Should_send_the_credential_as_declared_and_page_by_number_and_offset()
    {
        var byPage = new PageRequests(Source(new SourcePagination(PaginationStyle.Page, PageParameter: "p", LimitParameter: "n", PageSize: 50),
            new SourceAuth(SourceAuthPlacement.Query, "api_key")), "s3cret");
        var byOffset = new PageRequests(Source(new SourcePagination(PaginationStyle.Offset, OffsetParameter: "o", LimitParameter: "n", PageSize: 50),
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer ")), "s3cret");

        using var first = byPage.Build(new PagePosition(null, null, null));
        using var offset = byOffset.Build(new PagePosition("100", Now, null));

        Assert.That(first.RequestUri!.Query, Is.EqualTo("?fixed=1&n=50&p=1&api_key=s3cret"));
        Assert.That(offset.RequestUri!.Query, Is.EqualTo("?fixed=1&since=2026-01-10T12%3A00%3A00.000Z&n=50&o=100"));
        Assert.That(offset.Headers.GetValues("Authorization"), Is.EqualTo(new[] { "Bearer s3cret" }));
        Assert.That(PageRequests.Describe(first.RequestUri), Does.Not.Contain("s3cret"), "what is logged has no query");
    }

    [Test]
    public void Should_send_the_declared_fixed_headers_on_every_page_next_links_included()
    {
        var definition = Source(new SourcePagination(PaginationStyle.NextLink, NextLinkPath: "$.next"),
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));
        definition = definition with
        {
            Request = definition.Request with { Headers = new Dictionary<string, string> { ["X-Api-Version"] = "2024-01-01", ["Accept-Language"] = "en" } },
        };
        var requests = new PageRequests(definition, "s3cret");

        using var first = requests.Build(new PagePosition(null, null, null));
        using var next = requests.Build(new PagePosition("https://api.example.com/v1/events?page=2", null, null));

        foreach (var request in new[] { first, next })
        {
            Assert.That(request.Headers.GetValues("X-Api-Version"), Is.EqualTo(new[] { "2024-01-01" }));
            Assert.That(request.Headers.GetValues("Accept-Language"), Is.EqualTo(new[] { "en" }));
            Assert.That(request.Headers.GetValues("Authorization"), Is.EqualTo(new[] { "Bearer s3cret" }));
        }
    }

    [Test]
    public void Should_stop_on_an_empty_page_a_short_page_a_missing_cursor_or_has_more_false()
    {
        var cursor = new PageRequests(Source(new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.next", HasMorePath: "$.more")), null);
        var pages = new PageRequests(Source(new SourcePagination(PaginationStyle.Page, PageSize: 2)), null);
        using var response = new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = new HttpRequestMessage(HttpMethod.Get, "https://api.example.com/e") };
        var start = new PagePosition(null, null, null);

        Assert.That(cursor.Follow(start, Json("""{"next":"c2","more":true}"""), response, 2).Next, Is.EqualTo("c2"));
        Assert.That(cursor.Follow(start, Json("""{"next":"c2","more":false}"""), response, 2).Next, Is.Null);
        Assert.That(cursor.Follow(start, Json("""{"next":null}"""), response, 2).Next, Is.Null);
        Assert.That(cursor.Follow(start, Json("""{"next":"c2"}"""), response, 0).Next, Is.Null);
        Assert.That(pages.Follow(start, Json("{}"), response, 2).Next, Is.EqualTo("2"));
        Assert.That(pages.Follow(start, Json("{}"), response, 1).Next, Is.Null);
    }

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    private static SourceDefinition Source(SourcePagination pagination, SourceAuth? auth = null) => new("events", "events",
        new SourceRequest("https://api.example.com/", "/v1/events", new Dictionary<string, string> { ["fixed"] = "1" }),
        auth, pagination, new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id" }),
        new SourceRateLimit([new RateLimitPolicy(10, 60)]), new SourceIncremental("occurred_at", "since", "until"));

    private static RateSignal Read(params (string Name, string Value)[] headers)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK);
        foreach (var (name, value) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }

        return RateHeaders.Read(response.Headers, Now);
    }
}
