// What the page imports of Amplify, as a site imports it (`aws-amplify`, whose `configure` wires
// the Cognito token store the sign-in flows use): the Cognito calls that send an SMS (a sign-in's
// SMS MFA code included, and a phone change's) and what a sign-in needs around them, bundled by
// `just setup-amplify-sdk` into target/amplify-sdk/amplify.js.
export { Amplify } from "aws-amplify";
export {
  signUp, resendSignUpCode, resetPassword, signIn, confirmSignIn, signOut, updateUserAttribute, confirmUserAttribute,
} from "aws-amplify/auth";
