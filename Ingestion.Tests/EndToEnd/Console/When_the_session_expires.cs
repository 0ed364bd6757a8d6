using System.Security.Cryptography;
using System.Text;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// A page left open past its session's end says so and asks to sign in again, then carries on
/// where it was; nothing it showed before turns into a blank page.
/// </summary>
public sealed class When_the_session_expires : ConsoleTest
{
    [Test]
    public async Task Should_ask_to_sign_in_again_and_return_to_the_same_page()
    {
        ExpectConsoleError("/v1/session");
        ExpectConsoleError("/v1/jobs");
        await SignInAsync(Keys.Acme, "#/jobs?state=completed");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Jobs" })).ToBeVisibleAsync();

        // The session reaches its end on the server (as Console:SessionMinutes would make it).
        var token = (await Context.CookiesAsync()).Single(c => c.Name == "ingestion_session").Value;
        await using (var expire = TestRun.Shared.Sandbox.Db.CreateCommand(
            "update ingestion.console_sessions set expires_at = now() where token_hash = $1"))
        {
            expire.Parameters.Add(new Npgsql.NpgsqlParameter { Value = SHA256.HashData(Encoding.UTF8.GetBytes(token)) });
            Assert.That(await expire.ExecuteNonQueryAsync(), Is.EqualTo(1));
        }

        // The list refreshes on its own; its next request meets the ended session.
        await Expect(Page.GetByText("Your session has expired, sign in again.")).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" })).ToBeHiddenAsync();

        await Page.GetByLabel("API key").FillAsync(Keys.Acme);
        await Page.GetByLabel("API key").PressAsync("Enter");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Jobs" })).ToBeVisibleAsync();
        await Expect(Page.GetByLabel("State")).ToHaveValueAsync("completed");
        AssertNoConsoleErrors();
    }
}
