using Ingestion.Contracts;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Outbox;
using Ingestion.Workers.Limits;
using Ingestion.Workers.Sagas;
using MassTransit;
using Npgsql;

namespace Ingestion.Workers.Jobs;

/// <summary>
/// What every kind's work does around its own step (<see cref="IJobStep{TCommand}"/>), so that a
/// job's message is never acknowledged while the job's progress depends on it:
/// <list type="number">
/// <item>Takes the PostgreSQL advisory lock of the job's unit that the message works on
/// (<see cref="IJobStep{TCommand}.UnitOf"/>: the job itself, or a chunk of it) on the connection that
/// does the work; if another worker holds it, this delivery steps aside (the holder, or the reaper,
/// carries the job on), unless it is a redelivery, whose holder may be the worker that died with it: that one is sent
/// again in 5 s.</item>
/// <item>Beats the job's heartbeat, reads its state and attempt, and works the current attempt.</item>
/// <item>A cancelled job stops without a tenant slot; a job whose work is no longer owed is left alone
/// (unless the kind's step <see cref="IJobStep{TCommand}.RunsOutsideWorkingStates"/>).</item>
/// <item>Takes one of the tenant's slots (after the lock, so a duplicate never holds one), or sends the
/// message round the queue again after a pause.</item>
/// <item>Runs the step; releases the slot and the lock before the message goes on, so the next one
/// finds the job free; then requeues what the outcome says.</item>
/// </list>
/// </summary>
public sealed partial class JobWorker(
    NpgsqlDataSource dataSource,
    JobCancellation cancellation,
    TenantSlots slots,
    ILogger<JobWorker> logger)
{
    public async Task WorkAsync<TCommand>(ConsumeContext<TCommand> context, IJobStep<TCommand> step)
        where TCommand : class, IAttemptMessage
    {
        // Redelivered by RabbitMQ, or retried in place after a transient error (which may have broken the session that held the lock).
        var again = context.ReceiveContext.Redelivered || context.GetRetryAttempt() > 0;
        var (outcome, resumeAt) = await RunAsync(context.Message, step, context, again, context.CancellationToken);
        switch (outcome)
        {
            case JobOutcome.Continue:
                // The checkpoint is committed and the job's lock released: the next turn may start anywhere.
                await Requeue.SendAsync(context, TimeSpan.Zero);
                break;
            case JobOutcome.Busy when again:
                // Its holder may be the worker that died with this very message (RunAsync): a new copy, after a pause, on
                // this worker's own connection (it just received this one), comes back to the lock once the dead session is
                // gone; if the lock is still held then, that copy steps aside.
                await Requeue.SendAsync(context, BusyRedeliveredDelay);
                break;
            case JobOutcome.Waiting:
                // The tenant is at its limit: its job waits in the queue, and other tenants' jobs go ahead.
                await Requeue.SendAsync(context, slots.Wait);
                break;
            case JobOutcome.Cancelled:
                await Requeue.IfRetriedAsync(context, cancellation, step.Kind.Queued);
                break;
            case JobOutcome.Later:
                // Kept in PostgreSQL, as a returned command is: the relay sends it when it is due, from any host.
                await using (var connection = await dataSource.OpenConnectionAsync(context.CancellationToken))
                {
                    await Outbox.AddAsync(connection, context.Message, Queues.Address(step.Kind.WorkQueue), context.CancellationToken,
                        resumeAt ?? DateTimeOffset.UtcNow);
                }

                break;
        }
    }

    /// <param name="again">This message is delivered again: the consumer that had it is gone (its worker died), or it failed.</param>
    private async Task<(JobOutcome Outcome, DateTimeOffset? ResumeAt)> RunAsync<TCommand>(TCommand command, IJobStep<TCommand> step,
        IPublishEndpoint events, bool again, CancellationToken cancellationToken)
        where TCommand : class, IAttemptMessage
    {
        var jobId = command.JobId;
        var unit = step.UnitOf(command);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!await JobLock.TryTakeAsync(connection, jobId, unit, cancellationToken))
        {
            if (again)
            {
                // The holder may be the worker that died with this very message: its session keeps the lock until
                // PostgreSQL notices, which another worker's redelivery can beat by milliseconds. Stepping aside would
                // leave the unit to the reaper; the message is sent again shortly, as a new one, instead (WorkAsync).
                LogBusyRedelivered(jobId, unit, BusyRedeliveredDelay.TotalSeconds);
            }
            else
            {
                LogBusy(jobId, unit);
            }

            return (JobOutcome.Busy, null);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            await JobHeartbeat.BeatAsync(connection, jobId, cancellationToken);
            var (state, attempt) = await cancellation.CurrentAsync(jobId, cancellationToken);

            // Whichever command holds the lock does the job's current attempt: a copy from an earlier
            // attempt that got here first must not do the work under a number the job now ignores.
            var run = new JobRun<TCommand>(step.AtAttempt(command, Math.Max(command.Attempt, attempt)), connection, events,
                cancellation, stop);

            // Cancelled while queued or between two turns: it stops without waiting for a slot, since it does no work.
            if (state == JobStates.Cancelled)
            {
                return (await step.StopAsync(run, cancellationToken), null);
            }

            if (state != step.Kind.Queued && state != step.Kind.Running && !step.RunsOutsideWorkingStates)
            {
                LogNotOwed(jobId, state ?? "missing");
                return (JobOutcome.Done, null);
            }

            var tenantId = step.TenantOf(command);
            await using var slot = await slots.TryTakeAsync(connection, tenantId, cancellationToken);
            if (slot is null)
            {
                LogWaiting(jobId, tenantId);
                return (JobOutcome.Waiting, null);
            }

            var outcome = await step.RunAsync(run, stop.Token);
            return (outcome, run.ResumeAt);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            LogStopped(jobId);
            return (JobOutcome.Cancelled, null);
        }
        finally
        {
            // Released before the message goes on, so the next one finds the job free.
            await JobLock.ReleaseAsync(connection, jobId, unit, logger);
        }
    }

    /// <summary>How long a redelivered message that found its unit locked waits before it is sent again.</summary>
    internal static readonly TimeSpan BusyRedeliveredDelay = TimeSpan.FromSeconds(5);

    [LoggerMessage(LogLevel.Information, "Another worker is processing job {JobId} (unit {Unit}); this delivery steps aside")]
    private partial void LogBusy(Guid jobId, long unit);

    [LoggerMessage(LogLevel.Information, "Job {JobId} (unit {Unit}) is locked, and this message is redelivered: the holder may be the worker that died with it, so it is sent again in {Seconds} s")]
    private partial void LogBusyRedelivered(Guid jobId, long unit, double seconds);

    [LoggerMessage(LogLevel.Information, "Job {JobId} is {State}: this message does no work")]
    private partial void LogNotOwed(Guid jobId, string state);

    [LoggerMessage(LogLevel.Information, "Job {JobId} waits: every slot of tenant {TenantId} is taken")]
    private partial void LogWaiting(Guid jobId, string tenantId);

    [LoggerMessage(LogLevel.Information, "Job {JobId} cancelled: its step stopped where it was")]
    private partial void LogStopped(Guid jobId);
}
