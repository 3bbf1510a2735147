//! The embedded broker's group coordinator: Kafka's classic consumer-group protocol (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup) kept in memory, with committed offsets stored by tansu.
//!
//! tansu 0.6.0's coordinator answers a JoinGroup at once instead of holding it until every
//! member has rejoined, raises the generation on each new member, and refreshes a member's
//! last contact only on heartbeats. When every member's session lapses together (the broker
//! frozen past `session.timeout.ms`, a laptop asleep), each rejoin bumps the generation the
//! others just received, so their SyncGroup gets REBALANCE_IN_PROGRESS or UNKNOWN_MEMBER_ID,
//! they rejoin, and the group never forms again: no consumer of the group gets a partition.
//! This coordinator follows Kafka's group state machine instead:
//!
//! - **Empty**: no members. A join starts a rebalance.
//! - **PreparingRebalance**: every member must (re)join. A JoinGroup waits until all known
//!   members have joined, or until the rebalance timeout, when the absent ones are removed;
//!   then the generation goes up once, a leader is chosen, and every waiting join is answered
//!   (the leader with the members and their metadata).
//! - **CompletingRebalance**: followers' SyncGroup waits for the leader's, which carries the
//!   assignments.
//! - **Stable**: heartbeats keep members alive; a member silent past its session timeout is
//!   removed, and a removal, a new member or changed metadata start a rebalance.
//!
//! Offset commits are checked against the member and generation (a fenced or stale member
//! cannot overwrite the offsets of the member that owns the partition now) and then stored by
//! tansu's coordinator, which also answers offset fetches.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tansu_broker::Result;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_broker::coordinator::group::{Coordinator, OffsetCommit};
use tansu_sans_io::heartbeat_response::HeartbeatResponse;
use tansu_sans_io::join_group_request::JoinGroupRequestProtocol;
use tansu_sans_io::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use tansu_sans_io::leave_group_request::MemberIdentity;
use tansu_sans_io::leave_group_response::{LeaveGroupResponse, MemberResponse};
use tansu_sans_io::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use tansu_sans_io::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopic};
use tansu_sans_io::sync_group_request::SyncGroupRequestAssignment;
use tansu_sans_io::sync_group_response::SyncGroupResponse;
use tansu_sans_io::{Body, ErrorCode};
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::durable::JournaledStorage;

/// Session timeouts a member may ask for (Kafka's `group.min.session.timeout.ms` and
/// `group.max.session.timeout.ms` defaults).
const MIN_SESSION_TIMEOUT: Duration = Duration::from_secs(6);
const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often a waiting JoinGroup or SyncGroup looks for members whose session lapsed.
const RECHECK: Duration = Duration::from_millis(500);
/// How long a member id handed out with MEMBER_ID_REQUIRED stays reserved.
const PENDING_MEMBER_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

#[derive(Debug)]
struct Member {
    instance_id: Option<String>,
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_seen: Instant,
    /// Has joined the rebalance in progress; its JoinGroup waits for the answer.
    joined: bool,
    assignment: Bytes,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(name, _)| name == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }
}

#[derive(Debug)]
struct Group {
    state: State,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending: HashMap<String, Instant>,
    rebalance_deadline: Instant,
    /// Answers of the last completed join phase, each taken by that member's waiting JoinGroup.
    answers: HashMap<String, JoinGroupResponse>,
    /// Bumped on every state change; waiting requests look again.
    changed: watch::Sender<u64>,
}

impl Group {
    fn new(now: Instant) -> Group {
        Group {
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: now,
            answers: HashMap::new(),
            changed: watch::Sender::new(0),
        }
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The member a request names: its id, else (static membership) its instance id's.
    fn fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id.is_some_and(|instance| {
            self.members.iter().any(|(id, m)| m.instance_id.as_deref() == Some(instance) && id != member_id)
        })
    }

    fn unknown(&self, member_id: &str, instance_id: Option<&str>) -> Option<ErrorCode> {
        if self.fenced(member_id, instance_id) {
            Some(ErrorCode::FencedInstanceId)
        } else if !self.members.contains_key(member_id) {
            Some(ErrorCode::UnknownMemberId)
        } else {
            None
        }
    }

    /// Protocols every member supports, in `first`'s order of preference.
    fn common_protocols<'a>(&self, first: &'a [(String, Bytes)], except: Option<&str>) -> Vec<&'a str> {
        first
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| {
                self.members.iter().filter(|(id, _)| Some(id.as_str()) != except).all(|(_, m)| m.supports(name))
            })
            .collect()
    }

    fn prepare_rebalance(&mut self, now: Instant, reason: &str) {
        if self.state != State::PreparingRebalance {
            tracing::debug!(generation = self.generation, reason, "embedded broker: group rebalancing");
            self.state = State::PreparingRebalance;
            let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or_default();
            self.rebalance_deadline = now + timeout;
            for member in self.members.values_mut() {
                member.joined = false;
            }
            // Answers of the last join phase stay until taken or replaced: a member whose
            // JoinGroup has not read its answer yet gets it, then learns of this rebalance.
            self.notify();
        }
    }

    /// Removes members silent past their session timeout (those waiting in a join are
    /// alive) and answers what the removals settle.
    fn expire(&mut self, now: Instant) {
        self.pending.retain(|_, since| now.duration_since(*since) < PENDING_MEMBER_TIMEOUT);
        let before = self.members.len();
        let preparing = self.state == State::PreparingRebalance;
        self.members.retain(|id, member| {
            let alive = (preparing && member.joined) || now.duration_since(member.last_seen) <= member.session_timeout;
            if !alive {
                tracing::debug!(member = id, "embedded broker: member's session expired");
            }
            alive
        });
        if self.members.len() < before {
            self.members_left(now, "session expired");
        } else {
            self.try_complete_join(now);
        }
    }

    /// After members were removed: a rebalance for those left.
    fn members_left(&mut self, now: Instant, reason: &str) {
        if self.leader.as_ref().is_some_and(|leader| !self.members.contains_key(leader)) {
            self.leader = None;
        }
        self.prepare_rebalance(now, reason);
        self.try_complete_join(now);
    }

    /// Ends the join phase once every member has joined or the rebalance timeout passed.
    fn try_complete_join(&mut self, now: Instant) {
        if self.state != State::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.joined);
        if !all_joined && now < self.rebalance_deadline {
            return;
        }
        self.members.retain(|_, m| m.joined);
        self.generation = self.generation.wrapping_add(1).max(1);
        self.answers.clear();
        if self.members.is_empty() {
            self.state = State::Empty;
            self.protocol = None;
            self.protocol_type = None;
            self.leader = None;
            self.notify();
            return;
        }
        let leader = match self.leader.take().filter(|leader| self.members.contains_key(leader)) {
            Some(leader) => leader,
            None => self.members.keys().next().cloned().unwrap_or_default(),
        };
        let protocol = self
            .members
            .get(&leader)
            .map(|m| self.common_protocols(&m.protocols, None).first().map(|p| (*p).to_owned()))
            .unwrap_or_default()
            .unwrap_or_default();
        let listed: Vec<JoinGroupResponseMember> = self
            .members
            .iter()
            .map(|(id, m)| {
                JoinGroupResponseMember::default()
                    .member_id(id.clone())
                    .group_instance_id(m.instance_id.clone())
                    .metadata(m.metadata(&protocol))
            })
            .collect();
        for (id, member) in &mut self.members {
            member.joined = false;
            member.last_seen = now;
            member.assignment = Bytes::new();
            let members = if *id == leader { listed.clone() } else { Vec::new() };
            let answer =
                join_answer(ErrorCode::None, self.generation, self.protocol_type.clone(), Some(protocol.clone()))
                    .leader(leader.clone())
                    .member_id(id.clone())
                    .members(Some(members));
            self.answers.insert(id.clone(), answer);
        }
        tracing::debug!(
            generation = self.generation,
            members = self.members.len(),
            leader,
            protocol,
            "embedded broker: group formed"
        );
        self.leader = Some(leader);
        self.protocol = Some(protocol);
        self.state = State::CompletingRebalance;
        self.notify();
    }

    /// The answer to a member rejoining a formed group with nothing changed.
    fn current_answer(&self, member_id: &str) -> JoinGroupResponse {
        join_answer(ErrorCode::None, self.generation, self.protocol_type.clone(), self.protocol.clone())
            .leader(self.leader.clone().unwrap_or_default())
            .member_id(member_id.to_owned())
            .members(Some(Vec::new()))
    }
}

fn join_answer(
    error: ErrorCode,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .throttle_time_ms(Some(0))
        .error_code(error.into())
        .generation_id(generation)
        .protocol_type(protocol_type)
        .protocol_name(protocol.or(Some(String::new())))
        .leader(String::new())
        .skip_assignment(Some(false))
        .member_id(String::new())
        .members(Some(Vec::new()))
}

fn join_error(error: ErrorCode, member_id: &str) -> Body {
    join_answer(error, -1, None, None).member_id(member_id.to_owned()).into()
}

fn sync_answer(error: ErrorCode, group: &Group, assignment: Bytes) -> Body {
    SyncGroupResponse::default()
        .throttle_time_ms(Some(0))
        .error_code(error.into())
        .protocol_type(group.protocol_type.clone())
        .protocol_name(group.protocol.clone())
        .assignment(assignment)
        .into()
}

fn heartbeat_answer(error: ErrorCode) -> Body {
    HeartbeatResponse::default().throttle_time_ms(Some(0)).error_code(error.into()).into()
}

/// The embedded broker's group coordinator (see the module documentation).
#[derive(Clone, Debug)]
pub(super) struct GroupCoordinator {
    groups: Arc<Mutex<HashMap<String, Group>>>,
    /// Stores and fetches committed offsets.
    offsets: Controller<JournaledStorage>,
}

impl GroupCoordinator {
    pub fn new(offsets: Controller<JournaledStorage>) -> GroupCoordinator {
        GroupCoordinator { groups: Arc::default(), offsets }
    }

    fn groups(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        // Every holder leaves the map consistent (nothing panics while it is held).
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `look` on the group until it returns an answer, waking on every change of the
    /// group and at least every [`RECHECK`] (to expire silent members); at `until`, answers
    /// `timed_out`.
    async fn wait<T>(
        &self,
        group_id: &str,
        until: Instant,
        mut look: impl FnMut(&mut Group, Instant) -> Option<T>,
        timed_out: impl FnOnce(&Group) -> T,
    ) -> T {
        // Groups are never removed, so the group's channel outlives the wait.
        let mut changes = {
            let mut groups = self.groups();
            groups.entry(group_id.to_owned()).or_insert_with(|| Group::new(Instant::now())).changed.subscribe()
        };
        loop {
            let deadline = {
                let mut groups = self.groups();
                let now = Instant::now();
                let group = groups.entry(group_id.to_owned()).or_insert_with(|| Group::new(now));
                changes.borrow_and_update();
                group.expire(now);
                if let Some(answer) = look(group, now) {
                    return answer;
                }
                if now >= until {
                    return timed_out(group);
                }
                until.min(now + RECHECK)
            };
            _ = tokio::time::timeout_at(deadline, changes.changed()).await;
        }
    }
}

#[async_trait]
impl Coordinator for GroupCoordinator {
    async fn join(
        &mut self,
        client_id: Option<&str>,
        group_id: &str,
        session_timeout_ms: i32,
        rebalance_timeout_ms: Option<i32>,
        member_id: &str,
        group_instance_id: Option<&str>,
        protocol_type: &str,
        protocols: Option<&[JoinGroupRequestProtocol]>,
        _reason: Option<&str>,
    ) -> Result<Body> {
        let protocols: Vec<(String, Bytes)> =
            protocols.unwrap_or_default().iter().map(|p| (p.name.clone(), p.metadata.clone())).collect();
        let session_timeout = Duration::from_millis(u64::try_from(session_timeout_ms).unwrap_or(0));
        let rebalance_timeout =
            rebalance_timeout_ms.and_then(|ms| u64::try_from(ms).ok()).map_or(session_timeout, Duration::from_millis);
        if protocols.is_empty() || protocol_type.is_empty() {
            return Ok(join_error(ErrorCode::InconsistentGroupProtocol, member_id));
        }
        if !(MIN_SESSION_TIMEOUT..=MAX_SESSION_TIMEOUT).contains(&session_timeout) {
            return Ok(join_error(ErrorCode::InvalidSessionTimeout, member_id));
        }
        let member_id = {
            let mut groups = self.groups();
            let now = Instant::now();
            let group = groups.entry(group_id.to_owned()).or_insert_with(|| Group::new(now));
            group.expire(now);
            let known = group.members.contains_key(member_id);
            let consistent = group.protocol_type.as_deref().is_none_or(|t| t == protocol_type)
                && (group.members.is_empty()
                    || !group.common_protocols(&protocols, known.then_some(member_id)).is_empty());
            if !consistent {
                return Ok(join_error(ErrorCode::InconsistentGroupProtocol, member_id));
            }
            // A static member's restart takes over its old member id's place.
            let static_member = group_instance_id.and_then(|instance| {
                group.members.iter().find(|(_, m)| m.instance_id.as_deref() == Some(instance)).map(|(id, _)| id.clone())
            });
            let mut renamed = false;
            let member_id = match (member_id.is_empty(), group_instance_id, static_member) {
                (true, Some(instance), Some(old)) => {
                    renamed = true;
                    let new = format!("{instance}-{}", Uuid::new_v4());
                    if let Some(member) = group.members.remove(&old) {
                        group.members.insert(new.clone(), member);
                    }
                    if group.leader.as_deref() == Some(old.as_str()) {
                        group.leader = Some(new.clone());
                    }
                    group.answers.remove(&old);
                    group.notify();
                    new
                }
                (true, Some(instance), None) => format!("{instance}-{}", Uuid::new_v4()),
                (true, None, _) => {
                    let new = format!("{}-{}", client_id.unwrap_or("member"), Uuid::new_v4());
                    group.pending.insert(new.clone(), now);
                    return Ok(join_answer(ErrorCode::MemberIdRequired, -1, None, None).member_id(new).into());
                }
                (false, _, _) if group.fenced(member_id, group_instance_id) => {
                    return Ok(join_error(ErrorCode::FencedInstanceId, member_id));
                }
                (false, _, _) if !known && group.pending.remove(member_id).is_none() => {
                    return Ok(join_error(ErrorCode::UnknownMemberId, member_id));
                }
                (false, _, _) => member_id.to_owned(),
            };
            group.protocol_type = Some(protocol_type.to_owned());
            match group.members.get_mut(&member_id) {
                Some(member) => {
                    let unchanged = member.protocols == protocols;
                    member.protocols = protocols;
                    member.session_timeout = session_timeout;
                    member.rebalance_timeout = rebalance_timeout;
                    member.last_seen = now;
                    let follower = group.leader.as_deref() != Some(member_id.as_str());
                    // A follower that lost its join answer (a retry) gets the current
                    // generation, no rebalance; a static member back under a new id only in a
                    // Stable group, whose assignments it takes over (in CompletingRebalance the
                    // leader assigns to the old id: a rebalance it is).
                    let formed = match group.state {
                        State::Stable => true,
                        State::CompletingRebalance => !renamed,
                        State::Empty | State::PreparingRebalance => false,
                    };
                    if formed && unchanged && follower {
                        return Ok(group.current_answer(&member_id).into());
                    }
                    group.prepare_rebalance(now, "member rejoined");
                }
                None => {
                    group.members.insert(
                        member_id.clone(),
                        Member {
                            instance_id: group_instance_id.map(str::to_owned),
                            protocols,
                            session_timeout,
                            rebalance_timeout,
                            last_seen: now,
                            joined: false,
                            assignment: Bytes::new(),
                        },
                    );
                    group.prepare_rebalance(now, "member joined");
                }
            }
            // An answer of an earlier join phase that nobody took is stale now.
            group.answers.remove(&member_id);
            if let Some(member) = group.members.get_mut(&member_id) {
                member.joined = true;
            }
            group.try_complete_join(now);
            member_id
        };
        // Past the rebalance timeout (the group completes by then) the member asks again.
        let until = Instant::now() + rebalance_timeout + 2 * RECHECK;
        let answer = self
            .wait(
                group_id,
                until,
                |group, _| {
                    // Cloned, not taken: a retry of the member's JoinGroup on another
                    // connection while the first is still served gets it too. The next join
                    // phase replaces it.
                    if let Some(answer) = group.answers.get(&member_id) {
                        return Some(answer.clone().into());
                    }
                    match group.members.get(&member_id) {
                        None if group.fenced(&member_id, group_instance_id) => {
                            Some(join_error(ErrorCode::FencedInstanceId, &member_id))
                        }
                        None => Some(join_error(ErrorCode::UnknownMemberId, &member_id)),
                        // A new rebalance began and this member is not in it.
                        Some(member) if !member.joined && group.state != State::PreparingRebalance => {
                            Some(join_error(ErrorCode::RebalanceInProgress, &member_id))
                        }
                        Some(_) => None,
                    }
                },
                |_| join_error(ErrorCode::RebalanceInProgress, &member_id),
            )
            .await;
        Ok(answer)
    }

    async fn sync(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Option<&[SyncGroupRequestAssignment]>,
    ) -> Result<Body> {
        // A follower waits for the leader's assignments; a leader that never sends them loses
        // its session, which starts a new rebalance and ends the wait.
        let timeout = {
            let groups = self.groups();
            let Some(group) = groups.get(group_id) else {
                return Ok(SyncGroupResponse::default()
                    .throttle_time_ms(Some(0))
                    .error_code(ErrorCode::UnknownMemberId.into())
                    .assignment(Bytes::new())
                    .into());
            };
            group.members.get(member_id).map_or(RECHECK, |m| m.session_timeout)
        };
        let answer = self
            .wait(
                group_id,
                Instant::now() + timeout,
                |group, now| {
                    if let Some(error) = group.unknown(member_id, group_instance_id) {
                        return Some(sync_answer(error, group, Bytes::new()));
                    }
                    if generation_id != group.generation {
                        return Some(sync_answer(ErrorCode::IllegalGeneration, group, Bytes::new()));
                    }
                    let mismatch = protocol_type.is_some_and(|t| group.protocol_type.as_deref() != Some(t))
                        || protocol_name.is_some_and(|p| group.protocol.as_deref() != Some(p));
                    if mismatch {
                        return Some(sync_answer(ErrorCode::InconsistentGroupProtocol, group, Bytes::new()));
                    }
                    if let Some(member) = group.members.get_mut(member_id) {
                        member.last_seen = now;
                    }
                    match group.state {
                        State::Empty | State::PreparingRebalance => {
                            Some(sync_answer(ErrorCode::RebalanceInProgress, group, Bytes::new()))
                        }
                        State::Stable => {
                            let assignment =
                                group.members.get(member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                            Some(sync_answer(ErrorCode::None, group, assignment))
                        }
                        State::CompletingRebalance if group.leader.as_deref() == Some(member_id) => {
                            for assignment in assignments.unwrap_or_default() {
                                if let Some(member) = group.members.get_mut(&assignment.member_id) {
                                    member.assignment = assignment.assignment.clone();
                                }
                            }
                            group.state = State::Stable;
                            group.notify();
                            let assignment =
                                group.members.get(member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                            Some(sync_answer(ErrorCode::None, group, assignment))
                        }
                        State::CompletingRebalance => None,
                    }
                },
                |group| sync_answer(ErrorCode::RebalanceInProgress, group, Bytes::new()),
            )
            .await;
        Ok(answer)
    }

    async fn heartbeat(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<Body> {
        let mut groups = self.groups();
        let now = Instant::now();
        let Some(group) = groups.get_mut(group_id) else {
            return Ok(heartbeat_answer(ErrorCode::UnknownMemberId));
        };
        group.expire(now);
        if let Some(error) = group.unknown(member_id, group_instance_id) {
            return Ok(heartbeat_answer(error));
        }
        if generation_id != group.generation {
            return Ok(heartbeat_answer(ErrorCode::IllegalGeneration));
        }
        if let Some(member) = group.members.get_mut(member_id) {
            member.last_seen = now;
        }
        let error = match group.state {
            State::PreparingRebalance => ErrorCode::RebalanceInProgress,
            State::Empty => ErrorCode::UnknownMemberId,
            State::CompletingRebalance | State::Stable => ErrorCode::None,
        };
        Ok(heartbeat_answer(error))
    }

    async fn leave(
        &mut self,
        group_id: &str,
        member_id: Option<&str>,
        members: Option<&[MemberIdentity]>,
    ) -> Result<Body> {
        let leaving: Vec<(String, Option<String>)> = match member_id {
            Some(id) => vec![(id.to_owned(), None)],
            None => {
                members.unwrap_or_default().iter().map(|m| (m.member_id.clone(), m.group_instance_id.clone())).collect()
            }
        };
        let mut groups = self.groups();
        let now = Instant::now();
        let mut unknown = Group::new(now);
        let group = groups.get_mut(group_id).unwrap_or(&mut unknown);
        group.expire(now);
        let mut responses = Vec::with_capacity(leaving.len());
        let mut removed = false;
        for (id, instance) in leaving {
            // v3+: a static member may leave by its instance id alone.
            let target = if group.members.contains_key(&id) && !group.fenced(&id, instance.as_deref()) {
                Some(id.clone())
            } else if id.is_empty() {
                instance.as_deref().and_then(|instance| {
                    group
                        .members
                        .iter()
                        .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
                        .map(|(k, _)| k.clone())
                })
            } else {
                None
            };
            let error = match target.and_then(|target| group.members.remove(&target)) {
                Some(_) => {
                    removed = true;
                    ErrorCode::None
                }
                None if group.fenced(&id, instance.as_deref()) => ErrorCode::FencedInstanceId,
                None => ErrorCode::UnknownMemberId,
            };
            responses
                .push(MemberResponse::default().member_id(id).group_instance_id(instance).error_code(error.into()));
        }
        if removed {
            group.members_left(now, "member left");
        }
        // Before v3 a request names one member and the error is the response's own.
        let error = match (member_id, responses.first()) {
            (Some(_), Some(response)) => response.error_code,
            _ => ErrorCode::None.into(),
        };
        Ok(LeaveGroupResponse::default().throttle_time_ms(Some(0)).error_code(error).members(Some(responses)).into())
    }

    async fn offset_commit(&mut self, detail: OffsetCommit<'_>) -> Result<Body> {
        let generation = detail.generation_id_or_member_epoch.unwrap_or(-1);
        let member_id = detail.member_id.unwrap_or_default();
        let refused = {
            let mut groups = self.groups();
            let now = Instant::now();
            let managed = generation >= 0 || !member_id.is_empty() || detail.group_instance_id.is_some();
            match groups.get_mut(detail.group_id) {
                // A commit outside group management (no generation, no member) is fine for a
                // group with no members, as in Kafka; one naming a generation of a group this
                // coordinator does not know (a member from before a restart) is refused.
                None => managed.then_some(ErrorCode::IllegalGeneration),
                Some(group) => {
                    group.expire(now);
                    if !managed {
                        (!group.members.is_empty()).then_some(ErrorCode::UnknownMemberId)
                    } else if let Some(error) = group.unknown(member_id, detail.group_instance_id) {
                        Some(error)
                    } else if generation != group.generation {
                        Some(ErrorCode::IllegalGeneration)
                    } else if group.state == State::CompletingRebalance {
                        Some(ErrorCode::RebalanceInProgress)
                    } else {
                        if let Some(member) = group.members.get_mut(member_id) {
                            member.last_seen = now;
                        }
                        None
                    }
                }
            }
        };
        match refused {
            None => self.offsets.offset_commit(detail).await,
            Some(error) => {
                let topics = detail.topics.unwrap_or_default().iter().map(|topic| {
                    let partitions = topic.partitions.as_deref().unwrap_or_default().iter().map(|p| {
                        OffsetCommitResponsePartition::default()
                            .partition_index(p.partition_index)
                            .error_code(error.into())
                    });
                    OffsetCommitResponseTopic::default().name(topic.name.clone()).partitions(Some(partitions.collect()))
                });
                Ok(OffsetCommitResponse::default().throttle_time_ms(Some(0)).topics(Some(topics.collect())).into())
            }
        }
    }

    async fn offset_fetch(
        &mut self,
        group_id: Option<&str>,
        topics: Option<&[OffsetFetchRequestTopic]>,
        groups: Option<&[OffsetFetchRequestGroup]>,
        require_stable: Option<bool>,
    ) -> Result<Body> {
        self.offsets.offset_fetch(group_id, topics, groups, require_stable).await
    }
}

#[cfg(test)]
mod tests {
    use tansu_sans_io::create_topics_request::CreatableTopic;
    use tansu_sans_io::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use tansu_sans_io::sync_group_request::SyncGroupRequestAssignment;
    use tansu_storage::{Storage as _, StorageContainer};
    use url::Url;

    use super::*;

    const GROUP: &str = "g";
    const SESSION_MS: i32 = 10_000;
    const REBALANCE_MS: i32 = 30_000;

    async fn coordinator() -> GroupCoordinator {
        let storage = StorageContainer::builder()
            .cluster_id("test")
            .node_id(1)
            .advertised_listener(Url::parse("tcp://127.0.0.1:9092").unwrap())
            .storage(Url::parse("memory://test/").unwrap())
            .silent(true)
            .build()
            .await
            .unwrap();
        let topic = CreatableTopic::default().name("t".into()).num_partitions(1).replication_factor(1);
        storage.create_topic(topic, false).await.unwrap();
        GroupCoordinator::new(Controller::with_storage(JournaledStorage::memory(storage)).unwrap())
    }

    fn protocols() -> Vec<JoinGroupRequestProtocol> {
        vec![JoinGroupRequestProtocol::default().name("range".into()).metadata(Bytes::from_static(b"m"))]
    }

    async fn join(c: &GroupCoordinator, member_id: &str) -> JoinGroupResponse {
        join_as(c, member_id, None).await
    }

    /// JoinGroup, as a static member when `instance` is set.
    async fn join_as(c: &GroupCoordinator, member_id: &str, instance: Option<&str>) -> JoinGroupResponse {
        let mut c = c.clone();
        let protocols = protocols();
        let client = Some("client");
        let rebalance = Some(REBALANCE_MS);
        let body = c
            .join(client, GROUP, SESSION_MS, rebalance, member_id, instance, "consumer", Some(&protocols), None)
            .await
            .unwrap();
        JoinGroupResponse::try_from(body).unwrap()
    }

    /// JoinGroup with an empty member id, then with the id handed out.
    async fn join_new(c: &GroupCoordinator) -> JoinGroupResponse {
        let first = join(c, "").await;
        assert_eq!(first.error_code, i16::from(ErrorCode::MemberIdRequired));
        join(c, &first.member_id).await
    }

    async fn sync(c: &GroupCoordinator, joined: &JoinGroupResponse) -> SyncGroupResponse {
        let mut c = c.clone();
        let assignments: Vec<SyncGroupRequestAssignment> = joined
            .members
            .iter()
            .flatten()
            .map(|m| {
                SyncGroupRequestAssignment::default()
                    .member_id(m.member_id.clone())
                    .assignment(Bytes::from(format!("for {}", m.member_id)))
            })
            .collect();
        let body =
            c.sync(GROUP, joined.generation_id, &joined.member_id, None, None, None, Some(&assignments)).await.unwrap();
        SyncGroupResponse::try_from(body).unwrap()
    }

    async fn heartbeat(c: &GroupCoordinator, member_id: &str, generation: i32) -> i16 {
        let body = c.clone().heartbeat(GROUP, generation, member_id, None).await.unwrap();
        HeartbeatResponse::try_from(body).unwrap().error_code
    }

    /// As clients do: a first member forms the group alone; a second one's join starts a
    /// rebalance and waits; the first learns of it from its heartbeat and rejoins; both get the
    /// next generation, the first stays leader and sees both members; the follower's SyncGroup
    /// waits for the leader's and receives what the leader assigned it.
    async fn form_two(c: &GroupCoordinator) -> (JoinGroupResponse, JoinGroupResponse) {
        form_two_with(c, None).await
    }

    /// [`form_two`], the second member static (`group.instance.id`) when `instance` is set.
    async fn form_two_with(
        c: &GroupCoordinator,
        instance: Option<&'static str>,
    ) -> (JoinGroupResponse, JoinGroupResponse) {
        let first = join_new(c).await;
        assert_eq!((first.error_code, first.leader.as_str()), (0, first.member_id.as_str()), "{first:?}");
        assert_eq!(sync(c, &first).await.error_code, 0);
        let second = tokio::spawn({
            let c = c.clone();
            async move {
                match instance {
                    Some(instance) => join_as(&c, "", Some(instance)).await,
                    None => join_new(&c).await,
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished(), "the join waits for the other members");
        let error = heartbeat(c, &first.member_id, first.generation_id).await;
        assert_eq!(error, i16::from(ErrorCode::RebalanceInProgress));
        let leader = join(c, &first.member_id).await;
        let follower = second.await.unwrap();
        assert_eq!(leader.error_code, 0, "{leader:?}");
        assert_eq!(follower.error_code, 0, "{follower:?}");
        assert_eq!(leader.generation_id, first.generation_id + 1);
        assert_eq!(leader.generation_id, follower.generation_id);
        assert_eq!(
            (leader.leader.as_str(), follower.leader.as_str()),
            (first.member_id.as_str(), first.member_id.as_str())
        );
        assert_eq!(leader.members.as_ref().map(Vec::len), Some(2), "the leader sees both members");
        assert_eq!(follower.members.as_ref().map(Vec::len), Some(0));
        let (f, l) = tokio::join!(sync(c, &follower), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sync(c, &leader).await
        });
        assert_eq!(l.error_code, 0);
        assert_eq!(f.error_code, 0);
        assert_eq!(f.assignment, Bytes::from(format!("for {}", follower.member_id)));
        assert_eq!(l.assignment, Bytes::from(format!("for {}", leader.member_id)));
        (leader, follower)
    }

    #[tokio::test(start_paused = true)]
    async fn members_joining_together_form_one_generation() {
        let c = coordinator().await;
        let (leader, follower) = form_two(&c).await;
        assert_eq!(heartbeat(&c, &leader.member_id, leader.generation_id).await, 0);
        assert_eq!(heartbeat(&c, &follower.member_id, follower.generation_id).await, 0);
    }

    /// The livelock of tansu 0.6.0's coordinator: every session lapses at once (a frozen
    /// broker); the members learn it, rejoin, and the group forms again.
    #[tokio::test(start_paused = true)]
    async fn a_group_whose_sessions_all_lapsed_forms_again() {
        let c = coordinator().await;
        let (leader, follower) = form_two(&c).await;
        tokio::time::advance(Duration::from_secs(30)).await;
        for member in [&leader, &follower] {
            let error = heartbeat(&c, &member.member_id, member.generation_id).await;
            assert_eq!(error, i16::from(ErrorCode::UnknownMemberId));
        }
        let (again, _) = form_two(&c).await;
        assert!(again.generation_id > leader.generation_id);
    }

    /// A new member starts a rebalance; the old ones learn it from their heartbeat, rejoin,
    /// and all three get the next generation. A member that never rejoins is dropped when its
    /// session lapses, not before.
    #[tokio::test(start_paused = true)]
    async fn a_rebalance_waits_for_live_members_and_drops_silent_ones() {
        let c = coordinator().await;
        let (leader, follower) = form_two(&c).await;
        let newcomer = tokio::spawn({
            let c = c.clone();
            async move { join_new(&c).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!newcomer.is_finished(), "the join waits for the other members");
        let error = heartbeat(&c, &leader.member_id, leader.generation_id).await;
        assert_eq!(error, i16::from(ErrorCode::RebalanceInProgress));
        // The leader rejoins; the follower stays silent until its session lapses.
        let started = Instant::now();
        let rejoined = join(&c, &leader.member_id).await;
        let newcomer = newcomer.await.unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(8), "waited for the follower's session: {waited:?}");
        assert!(waited <= Duration::from_secs(11), "not for the whole rebalance timeout: {waited:?}");
        assert_eq!(rejoined.generation_id, newcomer.generation_id);
        assert_eq!(rejoined.leader, leader.member_id, "the leader stays the leader");
        assert_eq!(rejoined.members.as_ref().map(Vec::len), Some(2), "the silent follower is gone");
        let error = heartbeat(&c, &follower.member_id, follower.generation_id).await;
        assert_eq!(error, i16::from(ErrorCode::UnknownMemberId));
    }

    /// A member of an older generation cannot commit over the current owner's offsets.
    #[tokio::test(start_paused = true)]
    async fn a_stale_member_cannot_commit() {
        let c = coordinator().await;
        let (leader, follower) = form_two(&c).await;
        let topics =
            vec![OffsetCommitRequestTopic::default().name("t".into()).partitions(Some(vec![
                OffsetCommitRequestPartition::default().partition_index(0).committed_offset(5),
            ]))];
        let commit = |generation: i32, member: String| {
            let mut c = c.clone();
            let topics = topics.clone();
            async move {
                let detail = OffsetCommit {
                    group_id: GROUP,
                    generation_id_or_member_epoch: Some(generation),
                    member_id: Some(&member),
                    group_instance_id: None,
                    retention_time_ms: None,
                    topics: Some(&topics),
                };
                let body = c.offset_commit(detail).await.unwrap();
                let response = OffsetCommitResponse::try_from(body).unwrap();
                response.topics.unwrap()[0].partitions.as_ref().unwrap()[0].error_code
            }
        };
        assert_eq!(commit(leader.generation_id, leader.member_id.clone()).await, 0);
        assert_eq!(
            commit(leader.generation_id - 1, follower.member_id.clone()).await,
            i16::from(ErrorCode::IllegalGeneration)
        );
        assert_eq!(commit(leader.generation_id, "ghost".into()).await, i16::from(ErrorCode::UnknownMemberId));
        assert_eq!(commit(-1, String::new()).await, i16::from(ErrorCode::UnknownMemberId), "the group has members");
        // A member of a group this coordinator does not know (from before a broker restart).
        let topics = topics.clone();
        let detail = OffsetCommit {
            group_id: "forgotten",
            generation_id_or_member_epoch: Some(3),
            member_id: Some("old-member"),
            group_instance_id: None,
            retention_time_ms: None,
            topics: Some(&topics),
        };
        let body = c.clone().offset_commit(detail).await.unwrap();
        let error =
            OffsetCommitResponse::try_from(body).unwrap().topics.unwrap()[0].partitions.as_ref().unwrap()[0].error_code;
        assert_eq!(error, i16::from(ErrorCode::IllegalGeneration));
    }

    /// A static follower restarting (same instance id, no member id) in a Stable group takes
    /// its place back without a rebalance: the same generation, its assignment, the leader
    /// undisturbed; its old member id is fenced.
    #[tokio::test(start_paused = true)]
    async fn a_static_member_takes_its_place_back() {
        let c = coordinator().await;
        let (leader, follower) = form_two_with(&c, Some("i-0")).await;
        let restarted = join_as(&c, "", Some("i-0")).await;
        assert_eq!(restarted.error_code, 0, "{restarted:?}");
        assert_ne!(restarted.member_id, follower.member_id);
        assert_eq!(restarted.generation_id, follower.generation_id, "no rebalance");
        let synced = c
            .clone()
            .sync(GROUP, restarted.generation_id, &restarted.member_id, Some("i-0"), None, None, None)
            .await
            .unwrap();
        let synced = SyncGroupResponse::try_from(synced).unwrap();
        assert_eq!(synced.error_code, 0);
        assert_eq!(synced.assignment, Bytes::from(format!("for {}", follower.member_id)), "its old assignment");
        assert_eq!(heartbeat(&c, &leader.member_id, leader.generation_id).await, 0, "the leader goes on");
        let old = c.clone().heartbeat(GROUP, follower.generation_id, &follower.member_id, Some("i-0")).await.unwrap();
        assert_eq!(HeartbeatResponse::try_from(old).unwrap().error_code, i16::from(ErrorCode::FencedInstanceId));
    }

    /// A consumer as clients run one: join (again with the id handed out, or afresh when it is
    /// unknown), sync (the leader assigns), then heartbeat every 2 s, joining again when told;
    /// done after three heartbeats in a row answered NONE. Starts as `member_id` (empty: a new
    /// member); returns its generation and member id.
    async fn client(c: GroupCoordinator, mut member_id: String) -> (i32, String) {
        'join: loop {
            let joined = join(&c, &member_id).await;
            match ErrorCode::try_from(joined.error_code).unwrap() {
                ErrorCode::None => {}
                ErrorCode::MemberIdRequired => {
                    member_id = joined.member_id;
                    continue;
                }
                ErrorCode::UnknownMemberId => {
                    member_id.clear();
                    continue;
                }
                _ => continue,
            }
            member_id.clone_from(&joined.member_id);
            if sync(&c, &joined).await.error_code != 0 {
                continue;
            }
            let mut good = 0;
            while good < 3 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                match heartbeat(&c, &member_id, joined.generation_id).await {
                    0 => good += 1,
                    _ => continue 'join,
                }
            }
            return (joined.generation_id, member_id);
        }
    }

    /// The livelock of tansu's coordinator as clients meet it: three members formed, every
    /// session lapses at once, then the three rejoin together: they converge on one generation.
    #[tokio::test(start_paused = true)]
    async fn members_rejoining_together_after_a_lapse_converge() {
        let c = coordinator().await;
        let mut members = vec![String::new(); 3];
        for round in 0..2 {
            let started = Instant::now();
            // The second round's clients come back with the member ids that lapsed.
            let clients: Vec<_> = members.drain(..).map(|id| tokio::spawn(client(c.clone(), id))).collect();
            let mut generations = Vec::new();
            for client in clients {
                let (generation, member_id) = client.await.unwrap();
                generations.push(generation);
                members.push(member_id);
            }
            assert!(generations.iter().all(|g| *g == generations[0]), "round {round}: {generations:?}");
            assert!(started.elapsed() < Duration::from_secs(60), "round {round}: {:?}", started.elapsed());
            // Every session lapses (a frozen broker): the members are gone.
            tokio::time::advance(Duration::from_secs(30)).await;
        }
    }
}
