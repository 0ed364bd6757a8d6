using System.Net;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// A person opens the console, signs in with a tenant's key and lands on the tenant's jobs.
/// The key is exchanged for an HttpOnly session cookie: the page keeps no copy of it.
/// </summary>
public sealed class When_a_user_signs_in : ConsoleTest
{
    // The console asks who is signed in when it opens: before sign-in that is a 401, by design.
    private const string NotSignedInYet = "/v1/session";

    [Test]
    public async Task Should_land_on_the_jobs_page_under_a_strict_policy_without_console_errors()
    {
        using var acme = TestRun.Shared.Client(Keys.Acme);
        var jobId = await acme.StartUploadAsync("transactions", new TestCsv().Transactions(20));

        var response = await Page.GotoAsync(ConsoleUrl());
        Assert.That(response!.Status, Is.EqualTo((int)HttpStatusCode.OK));
        var headers = await response.AllHeadersAsync();
        Assert.That(headers["content-security-policy"], Does.Contain("script-src 'self'").And.Contain("default-src 'none'")
            .And.Not.Contain("unsafe-inline").And.Contain("frame-ancestors 'none'"));
        Assert.That(headers["x-content-type-options"], Is.EqualTo("nosniff"));

        ExpectConsoleError(NotSignedInYet);
        await SignInAsync(Keys.Acme);

        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Jobs" })).ToBeVisibleAsync();
        await Expect(Page.GetByText("Tenant acme")).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = jobId.ToString() })).ToBeVisibleAsync();

        var cookie = (await Context.CookiesAsync()).Single(c => c.Name == "ingestion_session");
        Assert.That(cookie.HttpOnly, Is.True);
        Assert.That(cookie.SameSite, Is.EqualTo(SameSiteAttribute.Strict));
        Assert.That(cookie.Secure, Is.True, "the hosts under test run as Production");
        var stored = await Page.EvaluateAsync<string>(
            "() => document.cookie + '|' + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)");
        Assert.That(stored, Does.Not.Contain(Keys.Acme).And.Not.Contain(cookie.Value), "the page keeps neither the key nor the session");
        AssertNoConsoleErrors();
    }

    [Test]
    public async Task Should_say_why_an_unknown_key_is_refused()
    {
        await Page.GotoAsync(ConsoleUrl());
        ExpectConsoleError(NotSignedInYet);
        await Page.GetByLabel("API key").FillAsync("not-a-key-of-this-service");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await Expect(Page.GetByRole(AriaRole.Alert)).ToContainTextAsync("That key is not known to this service.");
        Assert.That((await Context.CookiesAsync()).Any(c => c.Name == "ingestion_session"), Is.False);
        AssertNoConsoleErrors();
    }

    [Test]
    public async Task Should_end_the_session_on_the_server_when_signing_out()
    {
        await Page.GotoAsync(ConsoleUrl());
        ExpectConsoleError(NotSignedInYet);
        await SignInAsync(Keys.Acme);
        var token = (await Context.CookiesAsync()).Single(c => c.Name == "ingestion_session").Value;

        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();

        // A copy of the cookie taken before sign-out signs no one in afterwards.
        using var replay = new HttpClient { BaseAddress = BaseUrl };
        replay.DefaultRequestHeaders.Add("Cookie", $"ingestion_session={token}");
        var refused = await replay.GetAsync("/v1/jobs");
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        AssertNoConsoleErrors();
    }

    [Test]
    public async Task Should_stay_signed_in_and_say_so_when_signing_out_fails()
    {
        await Page.GotoAsync(ConsoleUrl());
        ExpectConsoleError(NotSignedInYet);
        await SignInAsync(Keys.Acme);
        // The API is unavailable for the sign-out, as a 503 from a proxy would be: the session is still open.
        await Page.RouteAsync("**/v1/session", route => route.Request.Method == "DELETE"
            ? route.FulfillAsync(new() { Status = 503, ContentType = "application/problem+json",
                Body = """{"title":"Service unavailable","detail":"Try again shortly.","status":503}""" })
            : route.ContinueAsync());

        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Not signed out");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Jobs" })).ToBeVisibleAsync();
        await Expect(Page.GetByText("You have signed out.")).Not.ToBeVisibleAsync();
        Assert.That((await Context.CookiesAsync()).Any(c => c.Name == "ingestion_session"), Is.True);

        await Page.UnrouteAllAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(Page.GetByText("You have signed out.")).ToBeVisibleAsync();
        AssertNoConsoleErrors();
    }
}
