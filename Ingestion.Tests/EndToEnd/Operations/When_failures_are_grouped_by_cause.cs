using System.Net;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Operations;

/// <summary>
/// Jobs of two tenants fail the same way (PostgreSQL refuses a different entry in each): the
/// operator sees one group with their count and times, pages through it, removes the cause
/// and retries the group; every job resumes and completes, and the trail names the operator.
/// </summary>
public sealed class When_failures_are_grouped_by_cause
{
    private const int Rows = 1200;
    private const string Cause = "ops test refused entry";
    private readonly string _dataset = "grouped_" + Guid.NewGuid().ToString("N")[..8];
    private HttpClient _ops = null!;
    private HttpClient _acme = null!;
    private HttpClient _globex = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _ops = OperationsRun.Stack.Client(Keys.Ops);
        _acme = OperationsRun.Stack.Client(Keys.Acme);
        _globex = OperationsRun.Stack.Client(Keys.Globex);
        await OperationsRun.CreateRefusingDatasetAsync(_acme, "acme", _dataset, Cause);
        await OperationsRun.CreateRefusingDatasetAsync(_globex, "globex", _dataset, Cause);
    }

    [OneTimeTearDown]
    public void Disconnect()
    {
        _ops.Dispose();
        _acme.Dispose();
        _globex.Dispose();
    }

    [Test]
    public async Task Should_group_them_then_retry_the_group_from_each_checkpoint()
    {
        var jobs = new List<(HttpClient Client, string Tenant, Guid JobId)>();
        for (var i = 0; i < 5; i++)
        {
            var (client, tenant) = i < 3 ? (_acme, "acme") : (_globex, "globex");
            var first = (i + 1) * 10_000;
            await OperationsRun.Stack.Sandbox.ExecuteAsync($"insert into tenant_{tenant}.{_dataset}_refusals values ({first + 700})");
            jobs.Add((client, tenant, await client.StartUploadAsync(_dataset, OperationsRun.Entries(first, Rows))));
        }

        var failedAt = new List<DateTimeOffset>();
        foreach (var (client, _, jobId) in jobs)
        {
            var failed = await client.WaitForJobEndAsync(jobId);
            Assert.That(failed["status"]!.GetValue<string>(), Is.EqualTo("failed"), failed.ToJsonString());
            failedAt.Add(failed["error"]!["at"]!.GetValue<DateTimeOffset>());
        }

        var groups = (await _ops.GetJsonAsync("/v1/ops/failures?jobsPerGroup=3"))["groups"]!.AsArray();
        var group = groups.Single(g => g!["message"]!.GetValue<string>().Contains(Cause, StringComparison.Ordinal))!;
        var groupId = group["groupId"]!.GetValue<string>();
        Assert.That(group["kind"]!.GetValue<string>(), Is.EqualTo("upload"));
        Assert.That(group["code"]!.GetValue<string>(), Is.EqualTo("Npgsql.PostgresException"));
        Assert.That(group["message"]!.GetValue<string>(), Does.Contain($"{Cause} {{n}}").And.Not.Contains("10700"),
            "the entry that differs from job to job is a placeholder");
        Assert.That(group["count"]!.GetValue<long>(), Is.EqualTo(5));
        Assert.That(group["tenants"]!.AsArray().Select(t => t!.GetValue<string>()), Is.EqualTo(new[] { "acme", "globex" }));
        Assert.That(group["firstSeen"]!.GetValue<DateTimeOffset>(), Is.EqualTo(failedAt.Min()).Within(TimeSpan.FromMilliseconds(1)));
        Assert.That(group["lastSeen"]!.GetValue<DateTimeOffset>(), Is.EqualTo(failedAt.Max()).Within(TimeSpan.FromMilliseconds(1)));
        Assert.That(group["jobs"]!.AsArray(), Has.Count.EqualTo(3), "the list shows a group's latest jobs only");
        Assert.That(group["jobs"]![0]!["failedAt"]!.GetValue<DateTimeOffset>(), Is.EqualTo(failedAt.Max()).Within(TimeSpan.FromMilliseconds(1)));

        var paged = await PageThroughAsync($"/v1/ops/failures/{groupId}?limit=2");
        Assert.That(paged, Is.EquivalentTo(jobs.Select(j => j.JobId)), "paging through the group gives every job once");

        await OperationsRun.Stack.Sandbox.ExecuteAsync($"delete from tenant_acme.{_dataset}_refusals; delete from tenant_globex.{_dataset}_refusals");
        using var retry = await _ops.PostAsync($"/v1/ops/failures/{groupId}/retry", null);
        var body = JsonNode.Parse(await retry.Content.ReadAsStringAsync())!;
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToJsonString());
        Assert.That(body["count"]!.GetValue<int>(), Is.EqualTo(5));
        Assert.That(body["jobIds"]!.AsArray().Select(j => j!.GetValue<Guid>()), Is.EquivalentTo(jobs.Select(j => j.JobId)));

        foreach (var (client, tenant, jobId) in jobs)
        {
            var done = await client.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");
            Assert.That(done["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        }

        foreach (var tenant in new[] { "acme", "globex" })
        {
            var expected = jobs.Count(j => j.Tenant == tenant) * Rows;
            Assert.That(await OperationsRun.Stack.Sandbox.ScalarAsync<long>($"select count(distinct entry) from tenant_{tenant}.{_dataset}"),
                Is.EqualTo(expected), $"{tenant}: every row once, the batches before the failure kept");
            Assert.That(await OperationsRun.Stack.Sandbox.ScalarAsync<long>($"select count(*) from tenant_{tenant}.{_dataset}"), Is.EqualTo(expected));
        }

        var actors = await ActionsAsync(jobs.Select(j => j.JobId).ToArray(), "RetryJob");
        Assert.That(actors, Has.Count.EqualTo(5));
        Assert.That(actors, Has.All.StartsWith("ops/key:"), "each retry is recorded with the operator's key");
        using var gone = await _ops.GetAsync($"/v1/ops/failures/{groupId}");
        Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "a group whose jobs all completed is gone");
    }

    [Test]
    public async Task Should_archive_a_group_an_operator_will_not_retry()
    {
        var name = "archived_" + Guid.NewGuid().ToString("N")[..8];
        await OperationsRun.CreateRefusingDatasetAsync(_acme, "acme", name, "ops test archives entry");
        await OperationsRun.Stack.Sandbox.ExecuteAsync($"insert into tenant_acme.{name}_refusals values (3)");
        var jobId = await _acme.StartUploadAsync(name, OperationsRun.Entries(1, 10));
        Assert.That((await _acme.WaitForJobEndAsync(jobId))["status"]!.GetValue<string>(), Is.EqualTo("failed"));
        var groupId = await GroupOfAsync(jobId);

        using var archive = await _ops.PostAsync($"/v1/ops/failures/{groupId}/archive", null);
        var body = JsonNode.Parse(await archive.Content.ReadAsStringAsync())!;

        Assert.That(archive.StatusCode, Is.EqualTo(HttpStatusCode.OK), body.ToJsonString());
        Assert.That(body["jobIds"]!.AsArray().Select(j => j!.GetValue<Guid>()), Is.EqualTo(new[] { jobId }));
        Assert.That(await GroupOfAsync(jobId), Is.Null, "an archived failure leaves the list");
        var archivedBy = await ActionsAsync([jobId], "ArchiveFailure");
        Assert.That(archivedBy, Has.Count.EqualTo(1));
        Assert.That(archivedBy[0], Does.StartWith("ops/key:"));
        using var retry = await _ops.PostAsync($"/v1/ops/failures/{groupId}/retry", null);
        Assert.That(retry.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), (await retry.ProblemAsync()).ToJsonString());

        // The job itself is still failed and can be retried; if it fails again it is listed again.
        using var again = await _acme.PostAsync($"/v1/jobs/{jobId}/retry", null);
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        await WaitUntilAsync(async () => await GroupOfAsync(jobId) == groupId, "the job failed again and is back in its group");
    }

    [Test]
    public async Task Should_refuse_a_tenant_key()
    {
        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/v1/ops/failures"),
            (HttpMethod.Post, "/v1/ops/failures/retry"),
            (HttpMethod.Post, "/v1/ops/failures/0123456789abcdef/retry"),
            (HttpMethod.Get, "/v1/ops/dead-letters"),
            (HttpMethod.Post, "/v1/ops/dead-letters/process-upload_error/redeliver"),
        })
        {
            using var response = await _acme.SendAsync(new HttpRequestMessage(method, path));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), $"{method} {path}");
            Assert.That((await response.ProblemAsync())["detail"]!.GetValue<string>(), Is.EqualTo("This endpoint is for operators."));
        }

        using var anonymous = new HttpClient { BaseAddress = OperationsRun.Stack.Api.Url };
        using var unauthenticated = await anonymous.GetAsync("/v1/ops/failures");
        Assert.That(unauthenticated.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    private async Task<List<Guid>> PageThroughAsync(string path)
    {
        var ids = new List<Guid>();
        for (string? next = path; next is not null;)
        {
            var page = await _ops.GetJsonAsync(next);
            var items = page["jobs"]!.AsArray();
            Assert.That(items, Has.Count.LessThanOrEqualTo(2));
            ids.AddRange(items.Select(j => j!["jobId"]!.GetValue<Guid>()));
            next = page["next"]?.GetValue<string>();
        }

        return ids;
    }

    private async Task<string?> GroupOfAsync(Guid jobId)
    {
        var groups = (await _ops.GetJsonAsync("/v1/ops/failures?jobsPerGroup=100"))["groups"]!.AsArray();
        return groups.SingleOrDefault(g => g!["jobs"]!.AsArray().Any(j => j!["jobId"]!.GetValue<Guid>() == jobId))?["groupId"]!.GetValue<string>();
    }

    private static async Task<List<string>> ActionsAsync(Guid[] jobIds, string what)
    {
        var actors = new List<string>();
        await using var command = OperationsRun.Stack.Sandbox.Db.CreateCommand(
            "select actor from ingestion.job_events where job_id = any(@ids) and type = 'action' and what = @what");
        command.Parameters.AddWithValue("ids", jobIds);
        command.Parameters.AddWithValue("what", what);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            actors.Add(reader.GetString(0));
        }

        return actors;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), what);
            await Task.Delay(200);
        }
    }
}
