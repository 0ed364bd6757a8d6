using System.Diagnostics;
using Ingestion.Contracts;
using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Jobs;
using MassTransit;
using MassTransit.Events;
using MassTransit.Metadata;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// What a kind checks of a job submitted on the bus before the job exists, as the API checks a
/// request before it makes one: a refused command makes no job. Register it in the workers'
/// services; a kind without one accepts every command.
/// </summary>
public interface ISubmitCheck<in TSubmit>
    where TSubmit : class
{
    /// <returns>Why the command cannot become a job, for the sender; null to accept it.</returns>
    Task<string?> RefusalAsync(TSubmit submitted, CancellationToken cancellationToken);
}

/// <summary>
/// A submit command that cannot become a job. Not retried: MassTransit answers the request client with
/// a fault that carries this message (so the caller learns why at once, not by a timeout), publishes
/// <c>Fault&lt;T&gt;</c> for a plain publish, and moves the command to the error queue, where ops see it.
/// </summary>
public sealed class JobRefusedException(string message) : Exception(message);

/// <summary>
/// Runs a message's <see cref="ISubmitCheck{TSubmit}"/>s on a job saga's endpoint before the saga sees it.
/// Outside the state machine, so that the fault carries the refusal itself (an activity's exception reaches
/// the caller wrapped as "the event's execution faulted"). Every copy of a command is checked, also the one
/// the API writes for a job it made (one lookup); what a check asks (a dataset exists) still holds for a job
/// that exists, so a repeat is answered with the job.
/// </summary>
public sealed class SubmitCheckFilter<TMessage>(IEnumerable<ISubmitCheck<TMessage>> checks) : IFilter<ConsumeContext<TMessage>>
    where TMessage : class
{
    public async Task Send(ConsumeContext<TMessage> context, IPipe<ConsumeContext<TMessage>> next)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var check in checks)
        {
            if (await check.RefusalAsync(context.Message, context.CancellationToken) is { } reason)
            {
                var job = context.Message is IJobMessage message ? $" for job {message.JobId}" : "";
                var refused = new JobRefusedException($"{typeof(TMessage).Name}{job} was refused: {reason}");

                // A consumer or saga would send Fault<T> itself; before them only the receive fault would go,
                // which a request client does not wait for. Then the error queue, as for any faulted command.
                await context.NotifyFaulted(context, Stopwatch.GetElapsedTime(started), nameof(SubmitCheckFilter<TMessage>), refused);
                throw refused;
            }
        }

        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("submit-check");
}

/// <summary>How a job's state machine answers its submit command, alike for every kind.</summary>
internal static class JobAcceptance
{
    /// <summary>
    /// Answers a command sent with the request client, with the job as it now stands: the new job, or the
    /// one an earlier copy of the command made. A plain publish has no response address and gets nothing
    /// (responding would publish the answer to every subscriber). It leaves after the job's transaction
    /// commits (the endpoint's in-memory outbox), so a caller never hears of a job that was rolled back.
    /// </summary>
    public static Task RespondAsync<TJob, TSubmit>(BehaviorContext<TJob, TSubmit> context)
        where TJob : JobState
        where TSubmit : class =>
        context.ResponseAddress is null ? Task.CompletedTask : context.RespondAsync(JobOutcomes.Accepted(context.Saga));

    /// <summary>
    /// A submit command whose job id names another tenant's job (ids are the callers' own, so two could
    /// collide): it changes nothing, and the caller is told so with a fault rather than shown that job.
    /// </summary>
    public static Task RefuseAsync<TJob, TSubmit>(BehaviorContext<TJob, TSubmit> context, string tenantId)
        where TJob : JobState
        where TSubmit : class
    {
        var refused = new JobRefusedException(
            $"{typeof(TSubmit).Name} for job {context.Saga.CorrelationId} was refused: the id names a job of another tenant than '{tenantId}'; choose a new id.");
        return context.ResponseAddress is null
            ? Task.CompletedTask
            : context.RespondAsync<Fault<TSubmit>>(new FaultEvent<TSubmit>(context.Message, context.MessageId, HostMetadataCache.Host, refused,
                context.SupportedMessageTypes.ToArray()));
    }
}
