using System.Globalization;
using Ingestion.Tests.EndToEnd.Progress;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Ingestion.Tests.EndToEnd.Console;

/// <summary>
/// Closing the tab that watches a job stops only the watching: the job runs on, and its page
/// opened again shows it live, then its history as a timeline with who did what.
/// </summary>
public sealed class When_a_job_page_is_reopened : ConsoleTest
{
    private const int Rows = 8_000;

    [Test]
    public async Task Should_show_the_running_job_live_again_and_its_timeline_with_actors()
    {
        using var acme = TestRun.Shared.Client(Keys.Acme);

        // 16 batches of 500 rows at 250 ms each: a job of about four seconds.
        var dataset = await SlowDataset.CreateAsync(acme, "acme", millisecondsPerBatch: 250);
        var jobId = await acme.StartUploadAsync(dataset, SlowDataset.Rows(Rows, 1));

        ExpectConsoleError("/v1/session");
        await SignInAsync(Keys.Acme, $"#/jobs/{jobId}");
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Cancel job" })).ToBeVisibleAsync();
        await Page.CloseAsync();

        await NewPageAsync();
        await Page.GotoAsync(ConsoleUrl($"#/jobs/{jobId}"));
        await Page.EvaluateAsync("""
            () => {
              window.seen = [];
              new MutationObserver(() => {
                const node = document.querySelector('#live-loaded');
                if (node) window.seen.push(node.textContent);
              }).observe(document.querySelector('main'), { subtree: true, childList: true, characterData: true });
            }
            """);
        await Expect(Page.Locator("#live-loaded")).ToHaveTextAsync(Rows.ToString("N0", CultureInfo.InvariantCulture), new() { Timeout = 60_000 });
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "Cancel job" })).ToHaveCountAsync(0);

        var seen = (await Page.EvaluateAsync<string[]>("() => window.seen"))
            .Where(text => text != "–")
            .Select(text => long.Parse(text, NumberStyles.AllowThousands, CultureInfo.InvariantCulture))
            .ToList();
        // Two counts between none and all: the count moved while the reopened page watched, which a
        // page showing only the state it read on opening (or a job stopped with the tab) cannot do.
        Assert.That(seen.Where(count => count > 0 && count < Rows).Distinct().Count(), Is.GreaterThanOrEqualTo(2),
            "the reopened page counted live: " + string.Join(", ", seen.Distinct()));

        var timeline = Page.Locator("ol.timeline");
        await Expect(timeline).ToContainTextAsync("Initial → Uploaded");
        await Expect(timeline).ToContainTextAsync("Processing → Completed");
        await Expect(timeline).ToContainTextAsync("tenant:acme/key:");
        AssertNoConsoleErrors();
    }
}
