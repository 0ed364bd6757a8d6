using System.Text.Json.Nodes;
using Ingestion.Tests.EndToEnd.Statements;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Operations;

/// <summary>
/// A deployment that gives loads workers of their own (<c>Workers:Jobs=upload</c>) and statements others: each worker
/// takes only its kinds' work; a kind no running worker takes waits, its command in the outbox and its job waiting for a worker, with
/// nothing lost (and the reaper, which would find it stale every 2 s here, adds no copies); and it runs once a worker of
/// its kind starts.
/// </summary>
public sealed class When_workers_run_some_kinds_of_job
{
    private readonly long _account = Random.Shared.NextInt64(10_000_000, 90_000_000);

    [Test]
    public async Task Should_take_only_their_kinds_and_leave_the_rest_waiting_until_a_worker_of_theirs_starts()
    {
        await using var stack = await Deployment.StartAsync(TestRun.Servers, "kinds", new Dictionary<string, string>
        {
            ["Workers__Jobs"] = "upload",
            ["Reaper__Period"] = "00:00:01",
            ["Reaper__StaleAfter"] = "00:00:02",
        });
        using var acme = stack.Client(Keys.Acme);
        var load = await acme.WaitForJobEndAsync(await acme.StartUploadAsync("transactions", new TestCsv().Transactions(300, _account)));
        Assert.That(load["status"]!.GetValue<string>(), Is.EqualTo("completed"), load.ToJsonString());
        Assert.That(load["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(300), load.ToJsonString());

        // No worker of the deployment takes statements: RabbitMQ refuses the command (no worker declared the queue), so
        // it stays in the outbox, to be sent again; the job stays where a statement waits for a worker.
        var statement = await When_a_statement_is_requested.RequestAsync(acme, new { accountId = _account, from = "2026-01-01", to = "2026-03-31" });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await stack.Sandbox.ScalarAsync<int?>(
                   "select max(returned) from ingestion.outbox where destination is not null and body->>'jobId' = @id",
                   ("id", statement.ToString())) is not > 2)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the statement's command was not refused by RabbitMQ three times within 60 s");
            await Task.Delay(100);
        }

        var waiting = await acme.GetJsonAsync($"/v1/jobs/{statement}");
        Assert.That(waiting["status"]!.GetValue<string>(), Is.EqualTo("requested"), waiting.ToJsonString());
        Assert.That(stack.Workers[0].Log(), Does.Contain("Jobs: runs upload (Workers:Jobs)"));
        Assert.That(await stack.Sandbox.ScalarAsync<long>("select count(*) from ingestion.outbox where destination is not null and body->>'jobId' = @id",
            ("id", statement.ToString())), Is.EqualTo(1), "one command waits; the reaper sent no other");
        Assert.That(await stack.Sandbox.ScalarAsync<long>("select count(*) from ingestion.job_events where job_id = @id and actor = 'reaper'",
            ("id", statement)), Is.Zero, "the reaper left the waiting job alone");

        await stack.StartWorkerAsync(new Dictionary<string, string> { ["Workers__Jobs"] = "statement" });
        var ready = await acme.WaitForJobEndAsync(statement, 120);

        Assert.That(ready["status"]!.GetValue<string>(), Is.EqualTo("ready"), ready.ToJsonString());
        var (pdf, _) = await Pdfs.DownloadAsync(acme, statement);
        Assert.That(string.Join('\n', Pdfs.Pages(pdf)), Does.Contain(_account.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(stack.Workers[1].Log(), Does.Contain("Jobs: runs statement (Workers:Jobs)"));
        Assert.That(await stack.Sandbox.ScalarAsync<long>("select count(*) from ingestion.outbox where destination is not null and body->>'jobId' = @id",
            ("id", statement.ToString())), Is.Zero, "the command left the outbox once it was sent");
    }

    [Test]
    public async Task Should_refuse_to_start_a_worker_that_names_a_kind_that_does_not_exist()
    {
        await using var stack = await Deployment.StartAsync(TestRun.Servers, "nokind", workers: 0);

        var refused = Assert.ThrowsAsync<InvalidOperationException>(() =>
            stack.StartWorkerAsync(new Dictionary<string, string> { ["Workers__Jobs"] = "upload, statment" }));

        Assert.That(refused!.Message, Does.Contain(
            "Workers:Jobs names 'statment', which is not a kind of job: it takes upload, statement, sync or index-build, separated by commas."));
    }
}
