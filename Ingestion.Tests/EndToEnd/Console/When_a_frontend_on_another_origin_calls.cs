using System.Net;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// A frontend served from its own origin calls the API from the browser: the API answers the
/// browser's preflight for a configured origin without asking for credentials (a preflight
/// carries none), and gives another origin nothing a browser would let through.
/// </summary>
public sealed class When_a_frontend_on_another_origin_calls
{
    private const string Frontend = "http://127.0.0.1:5173";
    private HostProcess _api = null!;
    private HttpClient _http = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var settings = new Dictionary<string, string>(TestRun.Shared.Settings) { ["Cors__AllowedOrigins__0"] = Frontend };
        _api = await HostProcess.StartAsync("Ingestion.Api", "cors-api", settings);
        _http = new HttpClient { BaseAddress = _api.Url };
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _http.Dispose();
        await _api.DisposeAsync();
    }

    [Test]
    public async Task Should_answer_a_preflight_from_a_configured_origin_without_credentials()
    {
        using var preflight = Preflight(Frontend, "POST", "x-api-key,content-type,idempotency-key");
        using var response = await _http.SendAsync(preflight);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(response.Headers.GetValues("Access-Control-Allow-Origin"), Is.EqualTo(new[] { Frontend }));
        Assert.That(string.Join(",", response.Headers.GetValues("Access-Control-Allow-Headers")).ToLowerInvariant(),
            Does.Contain("x-api-key").And.Contain("content-type").And.Contain("idempotency-key"));
        Assert.That(response.Headers.Contains("Access-Control-Allow-Credentials"), Is.False, "credentials are not configured for it");

        // The request itself then works with the key, and the browser may read the answer and its Location.
        using var get = new HttpRequestMessage(HttpMethod.Get, "/v1/jobs?limit=1");
        get.Headers.Add("Origin", Frontend);
        get.Headers.Add("X-Api-Key", Keys.Acme);
        using var answer = await _http.SendAsync(get);
        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(answer.Headers.GetValues("Access-Control-Allow-Origin"), Is.EqualTo(new[] { Frontend }));
        Assert.That(string.Join(",", answer.Headers.GetValues("Access-Control-Expose-Headers")), Does.Contain("Location"));
    }

    [Test]
    public async Task Should_give_another_origin_nothing_a_browser_would_let_through()
    {
        using var preflight = Preflight("https://elsewhere.example", "POST", "x-api-key");
        using var response = await _http.SendAsync(preflight);
        Assert.That(response.StatusCode, Is.Not.EqualTo(HttpStatusCode.Unauthorized), "a preflight is never asked for credentials");
        Assert.That(response.Headers.Contains("Access-Control-Allow-Origin"), Is.False);

        // The shared deployment configures no origin: the same preflight from the frontend gets nothing there either.
        using var shared = new HttpClient { BaseAddress = TestRun.Shared.Api.Url };
        using var there = await shared.SendAsync(Preflight(Frontend, "GET", "x-api-key"));
        Assert.That(there.Headers.Contains("Access-Control-Allow-Origin"), Is.False);
    }

    private static HttpRequestMessage Preflight(string origin, string method, string headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/v1/datasets/transactions/uploads");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return request;
    }
}
