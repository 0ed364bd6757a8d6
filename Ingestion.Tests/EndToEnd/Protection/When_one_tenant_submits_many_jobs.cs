using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Protection;

/// <summary>
/// A tenant may process one job at a time here, on a worker that could run four. Its jobs
/// take turns (none starts before the previous one ended) while another tenant's job,
/// submitted after all of them, goes ahead instead of waiting behind them.
/// </summary>
public sealed class When_one_tenant_submits_many_jobs
{
    private const int AcmeJobs = 3;
    private Deployment _stack = null!;
    private List<(DateTimeOffset Started, DateTimeOffset Completed)> _acme = null!;
    private (DateTimeOffset Started, DateTimeOffset Completed) _globex;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _stack = await Deployment.StartAsync(TestRun.Servers, "slots", new Dictionary<string, string>
        {
            ["Limits__ConcurrentJobsPerTenant"] = "1",
            ["Limits__SlotWait"] = "00:00:00.200",
            ["Processing__ConcurrentJobs"] = "4",
            ["Processing__BatchRows"] = "200",
        });
        using var acme = _stack.Client(Keys.Acme);
        using var globex = _stack.Client(Keys.Globex);
        var csv = new TestCsv();

        // Each file takes a while in small batches, so that unlimited jobs would overlap.
        var acmeJobs = new List<Guid>();
        for (var i = 0; i < AcmeJobs; i++)
        {
            acmeJobs.Add(await acme.StartUploadAsync("transactions", new TestCsv().Transactions(3000)));
        }

        var globexJob = await globex.StartUploadAsync("transactions", csv.Transactions(600));

        _acme = [];
        foreach (var job in acmeJobs)
        {
            _acme.Add(Times(await acme.WaitForJobEndAsync(job, 120)));
        }

        _globex = Times(await globex.WaitForJobEndAsync(globexJob, 120));
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _stack.DisposeAsync();

    [Test]
    public void Should_never_process_two_jobs_of_the_tenant_at_once()
    {
        var turns = _acme.OrderBy(t => t.Started).ToList();
        for (var i = 1; i < turns.Count; i++)
        {
            Assert.That(turns[i].Started, Is.GreaterThanOrEqualTo(turns[i - 1].Completed),
                $"job {i + 1} started at {turns[i].Started:O}, before job {i} completed at {turns[i - 1].Completed:O}");
        }
    }

    [Test]
    public void Should_let_the_other_tenant_go_ahead() =>
        Assert.That(_globex.Completed, Is.LessThan(_acme.Max(t => t.Completed)),
            "the other tenant's job, submitted last, did not wait for every job of the busy tenant");

    [Test]
    public void Should_have_made_jobs_wait_for_a_slot() =>
        Assert.That(_stack.Workers[0].Log(), Does.Contain("every slot of tenant acme is taken"));

    private static (DateTimeOffset Started, DateTimeOffset Completed) Times(System.Text.Json.Nodes.JsonNode job)
    {
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        return (job["startedAt"]!.GetValue<DateTimeOffset>(), job["completedAt"]!.GetValue<DateTimeOffset>());
    }
}
