using System.Net;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Operations;

/// <summary>
/// A worker faults on a <c>ProcessUpload</c> (PostgreSQL refuses a row), so MassTransit moves the
/// message to <c>process-upload_error</c>. The operator finds it with its fault headers, removes
/// the cause and sends it back: the worker consumes it, resumes from the checkpoint, and the
/// job completes.
/// </summary>
public sealed class When_a_message_is_dead_lettered
{
    private const string ErrorQueue = "process-upload_error";
    private const int Rows = 1200;
    private readonly string _dataset = "lettered_" + Guid.NewGuid().ToString("N")[..8];
    private HttpClient _ops = null!;
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _ops = OperationsRun.Stack.Client(Keys.Ops);
        _acme = OperationsRun.Stack.Client(Keys.Acme);
        await OperationsRun.CreateRefusingDatasetAsync(_acme, "acme", _dataset, "dead letter test refused entry");
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _ops.Dispose();
        _acme.Dispose();
    }

    [Test]
    public async Task Should_list_it_with_its_fault_and_redeliver_it_to_be_consumed()
    {
        var jobId = await FailedUploadAsync(100_000);

        var letter = await WaitForDeadLetterAsync(jobId);
        Assert.That(letter["messageType"]!.GetValue<string>(), Is.EqualTo("Ingestion.Contracts.Uploads:ProcessUpload"));
        Assert.That(letter["exceptionType"]!.GetValue<string>(), Is.EqualTo("Npgsql.PostgresException"));
        Assert.That(letter["exceptionMessage"]!.GetValue<string>(), Does.Contain("dead letter test refused entry 100700"));
        Assert.That(letter["consumerType"]!.GetValue<string>(), Does.Contain("ProcessUploadConsumer"));
        Assert.That(letter["inputAddress"]!.GetValue<string>(), Does.EndWith("/process-upload"));
        Assert.That(letter["faultedAt"]!.GetValue<DateTimeOffset>(), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(2)));
        var messageId = letter["messageId"]!.GetValue<string>();
        var before = await OperationsRun.Stack.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{_dataset}");
        Assert.That(await DeadLetterOfAsync(jobId), Is.Not.Null, "listing takes nothing off the queue");

        await OperationsRun.Stack.Sandbox.ExecuteAsync($"delete from tenant_acme.{_dataset}_refusals");
        using var redeliver = await _ops.PostAsync($"/v1/ops/dead-letters/{ErrorQueue}/{messageId}/redeliver", null);
        var body = JsonNode.Parse(await redeliver.Content.ReadAsStringAsync())!;

        Assert.That(redeliver.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToJsonString());
        Assert.That(body["originalQueue"]!.GetValue<string>(), Is.EqualTo("process-upload"));
        Assert.That(body["messages"]!.AsArray().Select(m => m!["jobId"]!.GetValue<Guid>()), Is.EqualTo(new[] { jobId }));
        var done = await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");
        Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(await OperationsRun.Stack.Sandbox.ScalarAsync<long>($"select count(distinct entry) from tenant_acme.{_dataset}"),
            Is.EqualTo(Rows).And.GreaterThan(before), "resumed from the checkpoint: every row once");
        Assert.That(await DeadLetterOfAsync(jobId), Is.Null, "the message left the error queue");

        using var twice = await _ops.PostAsync($"/v1/ops/dead-letters/{ErrorQueue}/{messageId}/redeliver", null);
        Assert.That(twice.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "it is not in the error queue any more");
    }

    [Test]
    public async Task Should_redeliver_every_message_of_a_queue()
    {
        var name = "redelivered_" + Guid.NewGuid().ToString("N")[..8];
        await OperationsRun.CreateRefusingDatasetAsync(_acme, "acme", name, "dead letter test refuses all of");
        await OperationsRun.Stack.Sandbox.ExecuteAsync($"insert into tenant_acme.{name}_refusals values (5), (15)");
        var jobs = new[]
        {
            await _acme.StartUploadAsync(name, OperationsRun.Entries(1, 10)),
            await _acme.StartUploadAsync(name, OperationsRun.Entries(11, 10)),
        };
        foreach (var jobId in jobs)
        {
            Assert.That((await _acme.WaitForJobEndAsync(jobId))["status"]!.GetValue<string>(), Is.EqualTo("failed"));
            await WaitForDeadLetterAsync(jobId);
        }

        await OperationsRun.Stack.Sandbox.ExecuteAsync($"delete from tenant_acme.{name}_refusals");
        using var redeliver = await _ops.PostAsync($"/v1/ops/dead-letters/{ErrorQueue}/redeliver", null);
        var body = JsonNode.Parse(await redeliver.Content.ReadAsStringAsync())!;

        Assert.That(redeliver.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToJsonString());
        Assert.That(body["messages"]!.AsArray().Select(m => m!["jobId"]?.GetValue<Guid>()), Is.SupersetOf(jobs.Cast<Guid?>()));
        foreach (var jobId in jobs)
        {
            await _acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");
            Assert.That(await DeadLetterOfAsync(jobId), Is.Null);
        }

        Assert.That(await OperationsRun.Stack.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{name}"), Is.EqualTo(20));
    }

    [Test]
    public async Task Should_refuse_a_queue_that_is_not_an_error_queue()
    {
        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/v1/ops/dead-letters/process-upload"),
            (HttpMethod.Post, "/v1/ops/dead-letters/process-upload/redeliver"),
            (HttpMethod.Post, "/v1/ops/dead-letters/nowhere_error/redeliver"),
            (HttpMethod.Post, $"/v1/ops/dead-letters/{ErrorQueue}/not-a-message/redeliver"),
        })
        {
            using var response = await _ops.SendAsync(new HttpRequestMessage(method, path));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"{method} {path}");
            Assert.That((await response.ProblemAsync())["title"]!.GetValue<string>(), Is.AnyOf("Unknown error queue", "Unknown message"));
        }
    }

    /// <summary>Uploads entries from <paramref name="first"/>; the 700th is refused, so the job fails after a committed batch.</summary>
    private async Task<Guid> FailedUploadAsync(int first)
    {
        await OperationsRun.Stack.Sandbox.ExecuteAsync($"insert into tenant_acme.{_dataset}_refusals values ({first + 700})");
        var jobId = await _acme.StartUploadAsync(_dataset, OperationsRun.Entries(first, Rows));
        var failed = await _acme.WaitForJobEndAsync(jobId);
        Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());
        return jobId;
    }

    /// <summary>MassTransit publishes the fault (which fails the job) just before it moves the message.</summary>
    private async Task<JsonNode> WaitForDeadLetterAsync(Guid jobId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            if (await DeadLetterOfAsync(jobId) is { } letter)
            {
                return letter;
            }

            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"job {jobId}'s message never reached {ErrorQueue}");
            await Task.Delay(200);
        }
    }

    /// <summary>The job's message in the error queue, as the operator's listing shows it, or null.</summary>
    private async Task<JsonNode?> DeadLetterOfAsync(Guid jobId)
    {
        var queues = (await _ops.GetJsonAsync("/v1/ops/dead-letters?limit=500"))["queues"]!.AsArray();
        var queue = queues.SingleOrDefault(q => q!["queue"]!.GetValue<string>() == ErrorQueue);
        return queue?["items"]!.AsArray().SingleOrDefault(m => m!["jobId"]?.GetValue<Guid>() == jobId);
    }
}
