using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// The session cookie alone cannot change anything: a POST, PUT or DELETE signed in by it must
/// carry the session's CSRF token, which another site cannot read. Keys work as before.
/// </summary>
public sealed class When_a_session_changes_state
{
    [Test]
    public async Task Should_refuse_a_cookie_signed_change_without_the_csrf_token()
    {
        using var browser = new HttpClient { BaseAddress = TestRun.Shared.Api.Url };
        var signIn = await browser.PostAsJsonAsync("/v1/session", new { apiKey = Keys.Acme });
        Assert.That(signIn.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Carry(signIn, browser);
        Assert.That(signIn.Headers.CacheControl?.NoStore, Is.True, "the body holds the CSRF token");
        var session = JsonNode.Parse(await signIn.Content.ReadAsStringAsync())!;
        Assert.That(session["tenant"]!.GetValue<string>(), Is.EqualTo("acme"));
        Assert.That(session["isOps"]!.GetValue<bool>(), Is.False);
        var csrf = session["csrfToken"]!.GetValue<string>();

        var jobs = await browser.GetAsync("/v1/jobs");
        Assert.That(jobs.StatusCode, Is.EqualTo(HttpStatusCode.OK), "reading needs the cookie only");

        var forged = await browser.PostAsJsonAsync("/v1/datasets", Dataset());
        Assert.That(forged.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await forged.Content.ReadAsStringAsync(), Does.Contain("X-CSRF-Token"));

        var wrong = new HttpRequestMessage(HttpMethod.Post, "/v1/datasets") { Content = JsonContent.Create(Dataset()) };
        wrong.Headers.Add("X-CSRF-Token", csrf[..^1] + (csrf[^1] == 'A' ? 'B' : 'A'));
        Assert.That((await browser.SendAsync(wrong)).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));

        var dataset = Dataset();
        var right = new HttpRequestMessage(HttpMethod.Post, "/v1/datasets") { Content = JsonContent.Create(dataset) };
        right.Headers.Add("X-CSRF-Token", csrf);
        var created = await browser.SendAsync(right);
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created), await created.Content.ReadAsStringAsync());

        using var acme = TestRun.Shared.Client(Keys.Acme);
        Assert.That((await acme.GetAsync($"/v1/datasets/{dataset["name"]}")).StatusCode, Is.EqualTo(HttpStatusCode.OK),
            "the session acted as the key's tenant");
    }

    [Test]
    public async Task Should_not_let_a_session_act_beyond_its_key()
    {
        using var browser = new HttpClient { BaseAddress = TestRun.Shared.Api.Url };
        var signIn = await browser.PostAsJsonAsync("/v1/session", new { apiKey = Keys.Acme });
        Carry(signIn, browser);
        var session = JsonNode.Parse(await signIn.Content.ReadAsStringAsync())!;
        var ops = new HttpRequestMessage(HttpMethod.Get, "/v1/ops/failures");
        ops.Headers.Add("X-CSRF-Token", session["csrfToken"]!.GetValue<string>());
        Assert.That((await browser.SendAsync(ops)).StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
    }

    [Test]
    public async Task Should_not_sign_out_by_the_cookie_without_the_csrf_token_whatever_key_comes_with_it()
    {
        using var browser = new HttpClient { BaseAddress = TestRun.Shared.Api.Url };
        var signIn = await browser.PostAsJsonAsync("/v1/session", new { apiKey = Keys.Acme });
        Carry(signIn, browser);

        // The default scheme tries the (unknown) key and finds no one; the endpoint signs out by the cookie.
        var forged = new HttpRequestMessage(HttpMethod.Delete, "/v1/session");
        forged.Headers.Add("X-Api-Key", "not-a-key-of-this-service");
        var refused = await browser.SendAsync(forged);

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await refused.Content.ReadAsStringAsync(), Does.Contain("X-CSRF-Token"));
        Assert.That((await browser.GetAsync("/v1/session")).StatusCode, Is.EqualTo(HttpStatusCode.OK), "the session is still open");
    }

    [Test]
    public async Task Should_sign_in_again_over_an_open_session_and_end_the_old_one()
    {
        using var browser = new HttpClient { BaseAddress = TestRun.Shared.Api.Url };
        Carry(await browser.PostAsJsonAsync("/v1/session", new { apiKey = Keys.Acme }), browser);

        // Another tab signs in while this browser still holds a valid session cookie (and sends no CSRF token).
        var again = await browser.PostAsJsonAsync("/v1/session", new { apiKey = Keys.Globex });
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.OK), await again.Content.ReadAsStringAsync());
        Assert.That(JsonNode.Parse(await again.Content.ReadAsStringAsync())!["tenant"]!.GetValue<string>(), Is.EqualTo("globex"));
        Assert.That(again.Headers.GetValues("Clear-Site-Data").Single(), Is.EqualTo("\"cache\""),
            "the previous tenant's cached reads go");

        Assert.That((await browser.GetAsync("/v1/jobs")).StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized),
            "the cookie it replaced signs in nobody any more");
        using var renewed = new HttpClient { BaseAddress = TestRun.Shared.Api.Url };
        Carry(again, renewed);
        Assert.That((await renewed.GetAsync("/v1/jobs")).StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    /// <summary>Sends the session cookie on every later request, as a browser would (it is Secure, so a CookieContainer keeps it off plain http).</summary>
    private static void Carry(HttpResponseMessage signIn, HttpClient browser)
    {
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("ingestion_session=", StringComparison.Ordinal));
        Assert.That(cookie, Does.Contain("httponly").And.Contain("samesite=strict").And.Contain("secure"));
        browser.DefaultRequestHeaders.Add("Cookie", cookie.Split(';')[0]);
    }

    private static JsonObject Dataset() => new()
    {
        ["name"] = "console_" + Guid.NewGuid().ToString("N")[..10],
        ["columns"] = new JsonArray(new JsonObject { ["name"] = "id", ["type"] = "uuid" }),
        ["key"] = new JsonArray("id"),
    };
}
