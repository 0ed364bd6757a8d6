using Ingestion.Tests.EndToEnd.Operations;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Ingestion.Tests.EndToEnd.Console.Views;

/// <summary>
/// Uploads fail the same way (PostgreSQL refuses one entry in each); once the cause is removed,
/// an operator finds their group on the Ops page and presses Retry: the page follows every job of
/// the group until each has completed.
/// </summary>
public sealed class When_an_operator_retries_a_failure_group_in_the_console : ViewsTest
{
    private const int Jobs = 3;
    private const string Cause = "console test refused entry";
    private readonly string _dataset = "console_refusing_" + Guid.NewGuid().ToString("N")[..6];

    [Test]
    public async Task Should_show_the_group_and_see_every_retried_job_complete()
    {
        using var acme = ViewsRun.Stack.Client(Keys.Acme);
        using var ops = ViewsRun.Stack.Client(Keys.Ops);
        await RefusingDataset.CreateAsync(acme, ViewsRun.Stack.Sandbox, "acme", _dataset, Cause);
        var jobIds = new List<Guid>();
        for (var i = 0; i < Jobs; i++)
        {
            var first = (i + 1) * 1000;
            await ViewsRun.Stack.Sandbox.ExecuteAsync($"insert into tenant_acme.{_dataset}_refusals values ({first + 50})");
            jobIds.Add(await acme.StartUploadAsync(_dataset, OperationsRun.Entries(first, 100)));
        }

        foreach (var jobId in jobIds)
        {
            Assert.That((await acme.WaitForJobEndAsync(jobId))["status"]!.GetValue<string>(), Is.EqualTo("failed"));
        }

        var group = (await ops.GetJsonAsync("/v1/ops/failures"))["groups"]!.AsArray()
            .Single(g => g!["message"]!.GetValue<string>().Contains(Cause, StringComparison.Ordinal))!;
        await ViewsRun.Stack.Sandbox.ExecuteAsync($"delete from tenant_acme.{_dataset}_refusals");

        await SignInAsync(Keys.Ops, "#/ops");
        var card = Page.Locator($"article.failure-group[data-group='{group["groupId"]!.GetValue<string>()}']");
        await Assertions.Expect(card).ToContainTextAsync($"{Cause} {{n}}");
        await Assertions.Expect(card.Locator("dl.facts")).ToContainTextAsync($"Jobs{Jobs}");
        await ScreenshotAsync("ops");

        await card.GetByRole(AriaRole.Button, new() { Name = $"Retry {Jobs} jobs of" }).ClickAsync();
        await Assertions.Expect(Page.Locator(".retried-summary"))
            .ToHaveTextAsync($"All {Jobs} retried jobs ended: {Jobs} succeeded.", new() { Timeout = 60_000 });
        await Assertions.Expect(card).Not.ToBeAttachedAsync(new() { Timeout = 15_000 });

        foreach (var jobId in jobIds)
        {
            var job = await acme.GetJsonAsync($"/v1/jobs/{jobId}");
            Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
            Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(100), "every row once, from the checkpoint");
        }

        AssertNoConsoleErrors();
    }
}
