using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Jobs;
using Ingestion.Workers.Sagas;
using Ingestion.Workers.StateMachines;
using MassTransit;
using MassTransit.Testing;
using Ingestion.Platform.Database;
using Ingestion.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Intake;

/// <summary>
/// The saga repository on PostgreSQL: each message loads its job with <c>SELECT … FOR
/// UPDATE</c> inside its own transaction, so messages for one job that arrive together are
/// applied one after the other and none is lost. The bus is MassTransit's in-memory one;
/// the jobs table is the real one, in a database of its own: the commands the saga writes to
/// its outbox stay there, since no relay runs against it.
/// </summary>
public sealed class When_messages_for_one_job_arrive_together
{
    private ServiceProvider _provider = null!;
    private ITestHarness _harness = null!;
    private Sandbox _sandbox = null!;
    private NpgsqlDataSource _db = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _sandbox = await Sandbox.CreateAsync(TestRun.Servers, "sagas_" + Guid.NewGuid().ToString("N")[..8]);
        _db = _sandbox.Db;
        await new DatabaseMigrator(_db, [], NullLogger<DatabaseMigrator>.Instance).StartAsync(CancellationToken.None);
        _provider = new ServiceCollection()
            .AddSingleton(_db)
            .AddMassTransitTestHarness(x =>
            {
                x.DisableUsageTelemetry();
                x.AddSagaStateMachine<UploadStateMachine, UploadJob>(typeof(UploadStateMachineDefinition)).JobRepository();
            })
            .BuildServiceProvider(true);
        _harness = _provider.GetRequiredService<ITestHarness>();
        _harness.TestTimeout = TimeSpan.FromSeconds(30);
        await _harness.Start();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _harness.Stop();
        await _provider.DisposeAsync();
        await _sandbox.DisposeAsync();
    }

    [Test]
    public async Task Should_apply_every_one_of_many_concurrent_messages_exactly_once()
    {
        var job = await CreateProcessingJobAsync();
        const int progress = 30;

        await Task.WhenAll(Enumerable.Range(1, progress)
            .Select(i => _harness.Bus.Publish(new UploadProgressed(job, i * 10, i, i * 100, 10_000, DateTimeOffset.UtcNow)))
            .Append(_harness.Bus.Publish(new UploadProcessed(job, 5000, 7, 10_000, null, DateTimeOffset.UtcNow))));
        await WaitUntilAsync(async () => (await VersionAsync(job)) == 1 + progress + 1);

        var saved = await LoadAsync(job);
        Assert.That(saved.CurrentState, Is.EqualTo(UploadJob.States.Completed));
        Assert.That((saved.RowsLoaded, saved.RowsRejected, saved.BytesRead), Is.EqualTo((5000L, 7L, 10_000L)),
            "the terminal counts win, whatever order the progress came in");
        Assert.That(saved.Version, Is.EqualTo(1 + progress + 1), "one committed write per message: none lost, none doubled");
    }

    [Test]
    public async Task Should_wait_for_the_row_lock_of_another_transaction()
    {
        var job = await CreateProcessingJobAsync();
        await using var connection = await _db.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var lockRow = new NpgsqlCommand("select 1 from ingestion.jobs where job_id = @id for update", connection, transaction))
        {
            lockRow.Parameters.AddWithValue("id", job);
            await lockRow.ExecuteScalarAsync();
        }

        await _harness.Bus.Publish(new UploadProcessed(job, 42, 0, 100, null, DateTimeOffset.UtcNow));

        // The message is held where the repository loads the job, not later at its UPDATE.
        await WaitUntilAsync(async () =>
        {
            await using var waiting = _db.CreateCommand("""
                select count(*) from pg_stat_activity
                where @holder = any(pg_blocking_pids(pid)) and query like 'select %from ingestion.jobs where job_id = % for update'
                """);
            waiting.Parameters.AddWithValue("holder", connection.ProcessID);
            return (long)(await waiting.ExecuteScalarAsync())! == 1;
        });
        Assert.That((await LoadAsync(job)).CurrentState, Is.EqualTo(UploadJob.States.Processing),
            "the saga waits while the row is locked");

        await transaction.CommitAsync();
        await WaitUntilAsync(async () => (await LoadAsync(job)).CurrentState == UploadJob.States.Completed);
        Assert.That((await LoadAsync(job)).RowsLoaded, Is.EqualTo(42));
    }

    [Test]
    public async Task Should_create_one_job_when_two_submissions_race()
    {
        var job = NewId.NextGuid();
        var submit = new SubmitUpload(job, "acme", "transactions", "bucket", $"uploads/acme/{job:N}.csv");

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => _harness.Bus.Publish(submit)));
        await WaitUntilAsync(async () => await _harness.Consumed.SelectAsync<SubmitUpload>(m => m.Context.Message.JobId == job).Count() == 8);

        Assert.That(await CountAsync(job), Is.EqualTo(1));
        Assert.That((await LoadAsync(job)).CurrentState, Is.EqualTo(UploadJob.States.Uploaded));
        Assert.That(await _harness.Published.SelectAsync<Fault<SubmitUpload>>().Count(), Is.Zero, "the losers retried and found the job");
        await using var outbox = _db.CreateCommand(
            "select count(*) from ingestion.outbox where message_type = @type and (body->>'jobId')::uuid = @id");
        outbox.Parameters.AddWithValue("type", typeof(ProcessUpload).FullName!);
        outbox.Parameters.AddWithValue("id", job);
        Assert.That((long)(await outbox.ExecuteScalarAsync())!, Is.EqualTo(8),
            "each submission's ProcessUpload was written with its transaction (a duplicate is harmless: the job's lock)");
    }

    private async Task<Guid> CreateProcessingJobAsync()
    {
        var now = DateTimeOffset.UtcNow;
        var job = new UploadJob
        {
            CorrelationId = NewId.NextGuid(),
            CurrentState = UploadJob.States.Processing,
            Version = 1,
            TenantId = "acme",
            DatasetName = "transactions",
            Bucket = "bucket",
            Key = "key",
            CreatedAt = now,
            UpdatedAt = now,
        };
        await using var insert = _db.CreateCommand(JobRows.InsertSql);
        JobRows.Bind(insert, job);
        await insert.ExecuteNonQueryAsync();
        return job.CorrelationId;
    }

    private async Task<UploadJob> LoadAsync(Guid job)
    {
        await using var select = _db.CreateCommand($"select {JobRows.Columns} from ingestion.jobs where job_id = @id");
        select.Parameters.AddWithValue("id", job);
        await using var reader = await select.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (UploadJob)JobRows.Read(reader);
    }

    private async Task<int> VersionAsync(Guid job) => (await LoadAsync(job)).Version;

    private async Task<long> CountAsync(Guid job)
    {
        await using var count = _db.CreateCommand("select count(*) from ingestion.jobs where job_id = @id");
        count.Parameters.AddWithValue("id", job);
        return (long)(await count.ExecuteScalarAsync())!;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("the condition did not hold within 30 s");
            }

            await Task.Delay(50);
        }
    }
}
