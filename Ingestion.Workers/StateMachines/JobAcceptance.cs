using Ingestion.Contracts;
using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Jobs;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// What a kind checks of a job submitted on the bus before the job exists, as the API checks a
/// request before it makes one: a refused command makes no job. Register it in the workers'
/// services; a kind without one accepts every command.
/// </summary>
public interface ISubmitCheck<in TSubmit>
    where TSubmit : class, IJobMessage
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

/// <summary>How a job's state machine answers and vets its submit command, alike for every kind.</summary>
internal static class JobAcceptance
{
    public static async Task CheckAsync<TJob, TSubmit>(BehaviorContext<TJob, TSubmit> context)
        where TJob : JobState
        where TSubmit : class, IJobMessage
    {
        foreach (var check in Services(context).GetServices<ISubmitCheck<TSubmit>>())
        {
            if (await check.RefusalAsync(context.Message, context.CancellationToken) is { } reason)
            {
                throw new JobRefusedException($"{typeof(TSubmit).Name} for job {context.Message.JobId} was refused: {reason}");
            }
        }
    }

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

    private static IServiceProvider Services(PipeContext context) =>
        context.TryGetPayload<IServiceScope>(out var scope) ? scope.ServiceProvider
        : context.TryGetPayload<IServiceProvider>(out var provider) ? provider
        : throw new InvalidOperationException("The saga's context carries no service provider to find the submit checks in.");
}
