using System.Net;
using System.Net.Http.Json;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// A tenant signed in to the console sees its own jobs and datasets only: another tenant's job
/// is neither listed nor shown by its id, and another tenant's dataset is not offered for upload.
/// </summary>
public sealed class When_tenants_use_the_console : ConsoleTest
{
    [Test]
    public async Task Should_never_show_another_tenants_jobs_or_datasets()
    {
        using var acme = TestRun.Shared.Client(Keys.Acme);
        using var globex = TestRun.Shared.Client(Keys.Globex);
        var own = await acme.StartUploadAsync("transactions", new TestCsv().Transactions(10));
        var theirs = await globex.StartUploadAsync("transactions", new TestCsv().Transactions(10));
        var globexOnly = "globex_only_" + Guid.NewGuid().ToString("N")[..8];
        var registered = await globex.PostAsJsonAsync("/v1/datasets", new
        {
            name = globexOnly,
            columns = new[] { new { name = "id", type = "uuid" } },
            key = new[] { "id" },
        });
        Assert.That(registered.StatusCode, Is.EqualTo(HttpStatusCode.Created));

        ExpectConsoleError("/v1/session");
        await SignInAsync(Keys.Acme);
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = own.ToString() })).ToBeVisibleAsync();
        await Expect(Page.GetByRole(AriaRole.Link, new() { Name = theirs.ToString() })).ToHaveCountAsync(0);

        // Asked for by its id, the other tenant's job does not exist for this one.
        ExpectConsoleError($"/v1/jobs/{theirs}");
        await Page.GotoAsync(ConsoleUrl($"#/jobs/{theirs}"));
        await Expect(Page.GetByRole(AriaRole.Alert)).ToContainTextAsync(theirs.ToString());
        await Expect(Page.GetByText("rows loaded")).ToHaveCountAsync(0);

        await Page.GotoAsync(ConsoleUrl("#/upload"));
        // The page fills the list once the datasets arrive: read it then, not while it is still empty.
        await Expect(Page.GetByLabel("Dataset").Locator("option", new() { HasText = "transactions" })).Not.ToHaveCountAsync(0);
        var offered = await Page.GetByLabel("Dataset").Locator("option").AllTextContentsAsync();
        Assert.That(offered, Does.Contain("transactions").And.Not.Contain(globexOnly));
        AssertNoConsoleErrors();
    }

    [Test]
    public async Task Should_be_usable_with_a_keyboard_on_a_phone()
    {
        await Page.SetViewportSizeAsync(390, 844);
        ExpectConsoleError("/v1/session");
        await Page.GotoAsync(ConsoleUrl("#/jobs"));

        // From the top of the page: the skip link, then the key field (focused already), then Enter.
        await Expect(Page.GetByLabel("API key")).ToBeFocusedAsync();
        await Page.Keyboard.TypeAsync(Keys.Acme);
        await Page.Keyboard.PressAsync("Enter");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "Jobs" })).ToBeVisibleAsync();

        foreach (var hash in new[] { "#/jobs", "#/upload" })
        {
            await Page.GotoAsync(ConsoleUrl(hash));
            await Expect(Page.Locator("main h1")).ToBeVisibleAsync();
            var overflow = await Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
            Assert.That(overflow, Is.LessThanOrEqualTo(0), $"{hash} fits a phone's width without scrolling sideways");
        }

        // Every form control the pages show has a label a screen reader reads out.
        var unlabelled = await Page.EvaluateAsync<string[]>("""
            () => [...document.querySelectorAll('input, select, textarea')]
              .filter(c => c.type !== 'hidden' && !(c.labels && c.labels.length) && !c.getAttribute('aria-label'))
              .map(c => c.outerHTML)
            """);
        Assert.That(unlabelled, Is.Empty);
        AssertNoConsoleErrors();
    }
}
