DROP TABLE referral_status_changes;
DROP FUNCTION refuse_referral_history_edit();
DROP TABLE referrals;
DROP TABLE boardings;
DROP TABLE trips;
